import * as vscode from 'vscode';
import { type FolderRef, type HitItem, hitsToItems } from './items';
import { type Hit, Methods, type SearchMode, SEARCH_MODES, type SearchParams, type SearchResult } from './protocol';
import { searchTitle } from './searchView';
import { type CodeseekServer, errorMessage } from './server';

const SEARCH_DEBOUNCE_MS = 200;
/** JSON-RPC's RequestCancelled: the answer to a request we cancelled ourselves. */
const REQUEST_CANCELLED = -32800;

const MODE_ICONS: Record<SearchMode, string> = { hybrid: 'layers', semantic: 'sparkle', lexical: 'whole-word' };

interface MessageItem extends vscode.QuickPickItem {
  hit?: undefined;
}

type SearchItem = HitItem | MessageItem;

function nextMode(mode: SearchMode): SearchMode {
  return SEARCH_MODES[(SEARCH_MODES.indexOf(mode) + 1) % SEARCH_MODES.length] ?? 'hybrid';
}

export function workspaceFolders(): FolderRef[] {
  return (vscode.workspace.workspaceFolders ?? []).map((folder) => ({ uri: folder.uri.toString(), name: folder.name }));
}

function toRange(hit: Hit): vscode.Range {
  const { start, end } = hit.range;
  return new vscode.Range(start.line, start.character, end.line, end.character);
}

/** Open the hit's file with its range selected and the cursor at the range's start. */
export async function openHit(hit: Hit): Promise<void> {
  const range = toRange(hit);
  const editor = await vscode.window.showTextDocument(vscode.Uri.parse(hit.uri), { preview: true });
  // Anchored at the end so the cursor, and the "Ln" the user reads, is on the first line.
  editor.selection = new vscode.Selection(range.end, range.start);
  editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
}

export function isCancellation(error: unknown): boolean {
  return (
    error instanceof vscode.CancellationError ||
    (typeof error === 'object' && error !== null && (error as { code?: unknown }).code === REQUEST_CANCELLED)
  );
}

/**
 * The search box: searches as the user types (debounced, a newer query cancels the
 * request of an older one), with a button that switches hybrid, semantic and lexical.
 */
export function showSearch(server: CodeseekServer, log: vscode.LogOutputChannel, initialQuery = ''): void {
  const config = vscode.workspace.getConfiguration('codeseek');
  const limit = config.get<number>('search.limit', 20);
  let mode = config.get<SearchMode>('search.mode', 'hybrid');

  const picker = vscode.window.createQuickPick<SearchItem>();
  picker.matchOnDescription = false;
  picker.matchOnDetail = false;
  picker.ignoreFocusOut = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: vscode.CancellationTokenSource | undefined;

  const modeButton = (): vscode.QuickInputButton => ({
    iconPath: new vscode.ThemeIcon(MODE_ICONS[mode]),
    tooltip: `Mode: ${mode}. Click for ${nextMode(mode)}.`,
  });
  const decorate = (result?: SearchResult): void => {
    picker.title = searchTitle(mode, result);
    picker.placeholder = 'Describe the code you are looking for, or type words that are in it';
    picker.buttons = [modeButton()];
  };

  const search = async (query: string): Promise<void> => {
    inFlight?.cancel();
    inFlight?.dispose();
    if (query.trim() === '') {
      picker.items = [];
      picker.busy = false;
      decorate();
      return;
    }
    const source = new vscode.CancellationTokenSource();
    inFlight = source;
    picker.busy = true;
    const params: SearchParams = { query, limit, mode };
    try {
      const result = await server.request<SearchResult>(Methods.search, params, source.token);
      if (source.token.isCancellationRequested) {
        return;
      }
      const items: SearchItem[] = hitsToItems(result.results, workspaceFolders());
      picker.items = items.length > 0 ? items : [{ label: `$(info) No matches for "${query}"`, alwaysShow: true }];
      if (result.degraded) {
        log.warn(`Search for "${query}" was answered in ${result.mode} mode: ${result.message ?? 'no reason given'}`);
      }
      decorate(result);
    } catch (error) {
      if (source.token.isCancellationRequested || isCancellation(error)) {
        return;
      }
      log.error(`Search failed: ${errorMessage(error)}`);
      picker.items = [{ label: `$(error) Search failed: ${errorMessage(error)}`, alwaysShow: true }];
    } finally {
      if (inFlight === source) {
        picker.busy = false;
      }
    }
  };

  const schedule = (query: string, delay: number): void => {
    clearTimeout(timer);
    // Cancel now, not when the timer fires: its answer is already stale.
    inFlight?.cancel();
    timer = setTimeout(() => void search(query), delay);
  };

  picker.onDidChangeValue((value) => schedule(value, SEARCH_DEBOUNCE_MS));
  picker.onDidTriggerButton(() => {
    mode = nextMode(mode);
    decorate();
    schedule(picker.value, 0);
  });
  picker.onDidAccept(() => {
    const hit = picker.selectedItems[0]?.hit;
    if (!hit) {
      return;
    }
    picker.hide();
    openHit(hit).catch((error: unknown) => {
      void vscode.window.showErrorMessage(`codeseek: cannot open ${hit.uri}: ${errorMessage(error)}`);
    });
  });
  picker.onDidHide(() => {
    clearTimeout(timer);
    inFlight?.cancel();
    inFlight?.dispose();
    picker.dispose();
  });

  decorate();
  picker.value = initialQuery;
  picker.show();
  if (initialQuery.trim() !== '') {
    schedule(initialQuery, 0);
  }
}

/** The editor's selection as a query: whitespace collapsed, long selections cut. */
export function selectionQuery(editor: vscode.TextEditor | undefined): string {
  if (!editor) {
    return '';
  }
  const selection = editor.selection;
  const range = selection.isEmpty ? editor.document.getWordRangeAtPosition(selection.active) : selection;
  const text = range ? editor.document.getText(range) : '';
  return text.replace(/\s+/g, ' ').trim().slice(0, 1000);
}
