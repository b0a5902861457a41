import * as vscode from 'vscode';
import type { IndexStatus } from './protocol';
import { type IndexProgress, type StatusBarState, statusBarView } from './statusView';

/**
 * The status bar item: indexing progress while the server reports it, then the index's
 * size and embedder, or an error that opens the logs.
 */
export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  /** Work-done progress the server is reporting now, by token, in the order it began. */
  private readonly progress = new Map<string, IndexProgress>();
  private base: StatusBarState = { kind: 'starting' };

  constructor() {
    this.item = vscode.window.createStatusBarItem('codeseek.status', vscode.StatusBarAlignment.Left, 10);
    this.item.name = 'codeseek';
    this.render();
  }

  /** The state shown when no progress is running. */
  set(state: StatusBarState): void {
    this.base = state;
    if (state.kind !== 'ready' && state.kind !== 'indexing') {
      this.progress.clear();
    }
    this.render();
  }

  setIndexStatus(status: IndexStatus): void {
    this.set({ kind: 'ready', status });
  }

  get state(): StatusBarState {
    return this.base;
  }

  beginProgress(token: string, progress: IndexProgress): void {
    this.progress.set(token, progress);
    this.render();
  }

  reportProgress(token: string, update: IndexProgress): void {
    const current = this.progress.get(token);
    if (current) {
      // A report carries only what changed.
      const changed = Object.fromEntries(Object.entries(update).filter(([, value]) => value !== undefined));
      this.progress.set(token, { ...current, ...changed });
      this.render();
    }
  }

  endAllProgress(): void {
    this.progress.clear();
    this.render();
  }

  endProgress(token: string): void {
    this.progress.delete(token);
    this.render();
  }

  get hasProgress(): boolean {
    return this.progress.size > 0;
  }

  private render(): void {
    const running = [...this.progress.values()];
    const latest = running[running.length - 1];
    const view = statusBarView(latest ? { kind: 'indexing', progress: latest } : this.base);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.command = view.command;
    this.item.backgroundColor =
      view.severity === 'error' ? new vscode.ThemeColor('statusBarItem.errorBackground') : undefined;
    if (view.visible) {
      this.item.show();
    } else {
      this.item.hide();
    }
  }

  dispose(): void {
    this.item.dispose();
  }
}
