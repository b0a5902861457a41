import * as vscode from 'vscode';
import { hitsToItems } from './items';
import { Methods, type RelatedParams, type RelatedResult } from './protocol';
import { openHit, workspaceFolders } from './search';
import type { CodeseekServer } from './server';

const RELATED_LIMIT = 10;

/** Code related to the chunk under the cursor, in a QuickPick or a peek view (`codeseek.findRelated.view`). */
export async function findRelated(server: CodeseekServer): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showInformationMessage('codeseek: open a file and place the cursor in the code to relate.');
    return;
  }
  const position = editor.selection.active;
  const params: RelatedParams = {
    textDocument: { uri: editor.document.uri.toString() },
    position: { line: position.line, character: position.character },
    limit: RELATED_LIMIT,
  };
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Window, title: 'codeseek: finding related code' },
    () => server.request<RelatedResult>(Methods.related, params),
  );
  if (result.results.length === 0) {
    void vscode.window.showInformationMessage('codeseek: no related code found.');
    return;
  }
  const view = vscode.workspace.getConfiguration('codeseek').get<string>('findRelated.view', 'quickPick');
  if (view === 'peek') {
    const locations = result.results.map(
      (hit) =>
        new vscode.Location(
          vscode.Uri.parse(hit.uri),
          new vscode.Range(hit.range.start.line, hit.range.start.character, hit.range.end.line, hit.range.end.character),
        ),
    );
    await vscode.commands.executeCommand('editor.action.peekLocations', editor.document.uri, position, locations, 'peek');
    return;
  }
  const picked = await vscode.window.showQuickPick(hitsToItems(result.results, workspaceFolders()), {
    title: `codeseek: Related to ${vscode.workspace.asRelativePath(editor.document.uri)}:${position.line + 1}`,
    placeHolder: 'Related code, most similar first',
    matchOnDescription: true,
  });
  if (picked) {
    await openHit(picked.hit);
  }
}
