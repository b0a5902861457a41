/**
 * What the search box's title says about a search. Pure, so the wording is unit-tested;
 * `search.ts` applies it to the real QuickPick.
 */
import type { SearchMode, SearchResult } from './protocol';

/**
 * `codeseek: Search (hybrid)`, then what the user should know about the last answer:
 * a mode the server fell back to, why (`message`), or an index still being built.
 */
export function searchTitle(mode: SearchMode, result?: Pick<SearchResult, 'mode' | 'degraded' | 'message' | 'index'>): string {
  const used = result && result.mode !== mode ? `${result.mode}, not ${mode}` : mode;
  const notes: string[] = [];
  if (result?.message) {
    notes.push(result.message);
  } else if (result?.degraded) {
    notes.push('results may be incomplete');
  }
  if (result?.index.state === 'indexing') {
    notes.push('indexing, results may be incomplete');
  }
  return `codeseek: Search (${used})${notes.map((note) => ' · ' + note).join('')}`;
}
