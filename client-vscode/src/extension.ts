import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { CodeseekServer } from './server';
import { StatusBar } from './status';

let server: CodeseekServer | undefined;

export function activate(context: vscode.ExtensionContext): void {
  // One channel for the extension's own messages, the server's stderr and the LSP trace.
  const log = vscode.window.createOutputChannel('codeseek', { log: true });
  const status = new StatusBar();
  server = new CodeseekServer(context, log, status);
  context.subscriptions.push(log, status, server);
  registerCommands(context, server, log);
  // Not awaited: activation should not wait for Python; commands wait for the start themselves.
  void server.start();
}

export async function deactivate(): Promise<void> {
  await server?.stop();
  server = undefined;
}
