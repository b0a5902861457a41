/**
 * What the status bar item says in each state of the server and index. Pure, so the
 * wording is unit-tested; `status.ts` applies it to the real item.
 */
import { basename, uriPath } from './items';
import type { IndexStatus } from './protocol';

export interface IndexProgress {
  title?: string;
  message?: string;
  percentage?: number;
}

export type StatusBarState =
  | { kind: 'noWorkspace' }
  | { kind: 'starting' }
  | { kind: 'indexing'; progress: IndexProgress }
  | { kind: 'ready'; status: IndexStatus }
  | { kind: 'error'; message: string };

export interface StatusBarView {
  text: string;
  tooltip: string;
  severity: 'normal' | 'error';
  command: 'codeseek.showStatus' | 'codeseek.showLogs';
  visible: boolean;
}

const number = new Intl.NumberFormat('en-US');

/** A model id or path, short enough for the status bar: `BAAI/bge-small` stays, `/models/x/y` -> `y`. */
export function shortModelName(model: string): string {
  if (model.startsWith('/') || model.startsWith('.') || /^[A-Za-z]:[\\/]/.test(model)) {
    const parts = model.split(/[\\/]/).filter((p) => p !== '');
    return parts[parts.length - 1] ?? model;
  }
  return model;
}

/** The server's line ("12/40 files · 310 chunks", "32% embedded · ... left") when it sends one, else its percentage. */
export function progressText(progress: IndexProgress): string {
  const message = progress.message?.trim();
  if (message) {
    return message;
  }
  if (progress.percentage !== undefined) {
    return `${Math.round(progress.percentage)}%`;
  }
  return '';
}

function providerText(status: IndexStatus): string {
  const parts = [status.provider, status.model ? shortModelName(status.model) : null].filter(
    (p): p is string => !!p,
  );
  return parts.join('/');
}

function statusTooltip(status: IndexStatus): string {
  const lines = [
    `codeseek index: ${status.state}`,
    `${number.format(status.files)} files, ${number.format(status.chunks)} chunks`,
  ];
  if (status.provider || status.model) {
    const dims = status.dimensions ? `, ${status.dimensions} dimensions` : '';
    lines.push(`Embeddings: ${providerText(status)}${dims}`);
  }
  if (status.pending > 0) {
    lines.push(`${number.format(status.pending)} files waiting to be indexed`);
  }
  if (status.denseTotal > status.embedded) {
    lines.push(
      `Embedded: ${status.densePercent}% (${number.format(status.embedded)} of ${number.format(status.denseTotal)} chunks); the rest is found by its words`,
    );
  }
  if (status.roots.length > 1) {
    for (const root of status.roots) {
      const state = root.state === 'idle' ? '' : ` (${root.state})`;
      lines.push(
        `  ${basename(uriPath(root.uri))}: ${number.format(root.files)} files, ${number.format(root.chunks)} chunks${state}`,
      );
    }
  }
  if (status.lastIndexedAt) {
    lines.push(`Last indexed: ${status.lastIndexedAt}`);
  }
  if (status.lastError) {
    lines.push(`Last error: ${status.lastError}`);
  }
  return lines.join('\n');
}

export function statusBarView(state: StatusBarState): StatusBarView {
  switch (state.kind) {
    case 'noWorkspace':
      return { text: '', tooltip: '', severity: 'normal', command: 'codeseek.showStatus', visible: false };
    case 'starting':
      return {
        text: '$(loading~spin) codeseek',
        tooltip: 'codeseek: starting the language server',
        severity: 'normal',
        command: 'codeseek.showLogs',
        visible: true,
      };
    case 'indexing': {
      const detail = progressText(state.progress);
      return {
        text: `$(sync~spin) codeseek: indexing${detail ? ' ' + detail : ''}`,
        tooltip: [state.progress.title ?? 'codeseek: indexing', detail].filter((l) => l).join('\n'),
        severity: 'normal',
        command: 'codeseek.showStatus',
        visible: true,
      };
    }
    case 'ready': {
      const status = state.status;
      if (status.state === 'error') {
        return {
          text: '$(error) codeseek: index error',
          tooltip: `${statusTooltip(status)}\nClick to open the logs.`,
          severity: 'error',
          command: 'codeseek.showLogs',
          visible: true,
        };
      }
      if (status.state === 'indexing') {
        const pending = status.pending > 0 ? ` (${number.format(status.pending)} files left)` : '';
        const embedded = status.denseTotal > status.embedded ? ` · ${status.densePercent}% embedded` : '';
        return {
          text: `$(sync~spin) codeseek: indexing${pending}${embedded}`,
          tooltip: statusTooltip(status),
          severity: 'normal',
          command: 'codeseek.showStatus',
          visible: true,
        };
      }
      const provider = providerText(status);
      return {
        text: `$(search) ${number.format(status.chunks)} chunks${provider ? ' · ' + provider : ''}`,
        tooltip: `${statusTooltip(status)}\nClick for details.`,
        severity: 'normal',
        command: 'codeseek.showStatus',
        visible: true,
      };
    }
    case 'error':
      return {
        text: '$(error) codeseek',
        tooltip: `codeseek: ${state.message}\nClick to open the logs.`,
        severity: 'error',
        command: 'codeseek.showLogs',
        visible: true,
      };
  }
}

/** The output channel's log level to the LSP trace: Trace logs messages verbosely, Debug their names. */
export type TraceSetting = 'off' | 'messages' | 'verbose';

/** `level` is VS Code's `LogLevel` (Off 0, Trace 1, Debug 2, Info 3, Warning 4, Error 5). */
export function traceForLogLevel(level: number): TraceSetting {
  if (level === 1) {
    return 'verbose';
  }
  if (level === 2) {
    return 'messages';
  }
  return 'off';
}
