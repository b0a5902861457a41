import * as vscode from 'vscode';
import { type IndexStatus, Methods, type ReindexParams } from './protocol';
import { findRelated } from './related';
import { isCancellation, selectionQuery, showSearch } from './search';
import { type CodeseekServer, errorMessage, ServerUnavailableError, VOYAGE_SECRET_KEY } from './server';

/** Run a command body; a failure becomes one clear message, not an unhandled rejection. */
function guarded(log: vscode.LogOutputChannel, name: string, body: () => Promise<void> | void) {
  return async (): Promise<void> => {
    try {
      await body();
    } catch (error) {
      if (isCancellation(error)) {
        return;
      }
      const message = errorMessage(error);
      log.error(`${name} failed: ${message}`);
      const actions = error instanceof ServerUnavailableError ? ['Show Logs', 'Restart Server'] : ['Show Logs'];
      const choice = await vscode.window.showErrorMessage(`codeseek: ${message}`, ...actions);
      if (choice === 'Show Logs') {
        log.show();
      } else if (choice === 'Restart Server') {
        await vscode.commands.executeCommand('codeseek.restartServer');
      }
    }
  };
}

function describeStatus(status: IndexStatus): string {
  const embedder = [status.provider, status.model].filter((part) => part).join(' / ') || 'no embedder yet';
  const dims = status.dimensions ? `, ${status.dimensions} dimensions` : '';
  const when = status.lastIndexedAt ? ` Last indexed ${status.lastIndexedAt}.` : '';
  const error = status.lastError ? ` Last error: ${status.lastError}` : '';
  return `codeseek index ${status.state}: ${status.files} files, ${status.chunks} chunks; ${embedder}${dims}.${when}${error}`;
}

async function reindex(server: CodeseekServer, full: boolean): Promise<void> {
  const params: ReindexParams = { full };
  // The server reports progress in the status bar while this runs.
  const status = await server.request<IndexStatus>(Methods.reindex, params);
  await server.refreshStatus();
  vscode.window.setStatusBarMessage(`codeseek: ${status.files} files, ${status.chunks} chunks indexed`, 5_000);
}

export function registerCommands(
  context: vscode.ExtensionContext,
  server: CodeseekServer,
  log: vscode.LogOutputChannel,
): void {
  const register = (id: string, body: () => Promise<void> | void): void => {
    context.subscriptions.push(vscode.commands.registerCommand(id, guarded(log, id, body)));
  };

  register('codeseek.search', () => showSearch(server, log));
  register('codeseek.searchSelection', () => showSearch(server, log, selectionQuery(vscode.window.activeTextEditor)));
  register('codeseek.findRelated', () => findRelated(server));
  register('codeseek.reindex', () => reindex(server, false));
  register('codeseek.rebuildIndex', () => reindex(server, true));
  register('codeseek.restartServer', () => server.restart('restart requested'));
  register('codeseek.showLogs', () => log.show());

  register('codeseek.showStatus', async () => {
    const status = await server.request<IndexStatus>(Methods.status, {});
    // The full answer (skipped files and their reasons, the store) goes to the logs.
    log.info(`Index status: ${JSON.stringify(status, null, 2)}`);
    const choice = await vscode.window.showInformationMessage(describeStatus(status), 'Update Index', 'Show Logs');
    if (choice === 'Update Index') {
      await reindex(server, false);
    } else if (choice === 'Show Logs') {
      log.show();
    }
  });

  register('codeseek.setVoyageApiKey', async () => {
    const key = await vscode.window.showInputBox({
      title: 'codeseek: Voyage API key',
      prompt: "Kept in VS Code's secret storage and given to the codeseek server only, through its environment.",
      placeHolder: 'pa-...',
      password: true,
      ignoreFocusOut: true,
      validateInput: (value) => (/\s/.test(value.trim()) ? 'A key has no spaces.' : undefined),
    });
    if (key === undefined || key.trim() === '') {
      return;
    }
    // Storing fires secrets.onDidChange, which restarts the server with the key.
    await context.secrets.store(VOYAGE_SECRET_KEY, key.trim());
    log.info('Voyage API key saved to secret storage; restarting the server.');
    void vscode.window.showInformationMessage('codeseek: Voyage API key saved. The server restarts to use it.');
  });

  register('codeseek.clearVoyageApiKey', async () => {
    await context.secrets.delete(VOYAGE_SECRET_KEY);
    log.info('Voyage API key removed from secret storage; restarting the server.');
    void vscode.window.showInformationMessage('codeseek: Voyage API key removed.');
  });
}
