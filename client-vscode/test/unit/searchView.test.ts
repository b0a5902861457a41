import { describe, expect, it } from 'vitest';
import type { IndexStatus, SearchResult } from '../../src/protocol';
import { searchTitle } from '../../src/searchView';

const idle = { state: 'idle' } as IndexStatus;

function answer(overrides: Partial<SearchResult> = {}): SearchResult {
  return { results: [], index: idle, mode: 'hybrid', degraded: false, message: null, densePercent: 100, ...overrides };
}

describe('searchTitle', () => {
  it('names the mode before and after an ordinary answer', () => {
    expect(searchTitle('hybrid')).toBe('codeseek: Search (hybrid)');
    expect(searchTitle('hybrid', answer())).toBe('codeseek: Search (hybrid)');
  });

  it("says which mode the server fell back to, and the server's reason", () => {
    const degraded = answer({
      mode: 'lexical',
      degraded: true,
      message: 'semantic search unavailable (the SGLang server is down); showing full-text results',
    });
    expect(searchTitle('semantic', degraded)).toBe(
      'codeseek: Search (lexical, not semantic) · semantic search unavailable (the SGLang server is down); showing full-text results',
    );
  });

  it('shows a message even when the mode was honoured (a folder that failed)', () => {
    const partial = answer({ degraded: true, message: 'docs: the index is being rebuilt' });
    expect(searchTitle('hybrid', partial)).toBe('codeseek: Search (hybrid) · docs: the index is being rebuilt');
    expect(searchTitle('hybrid', answer({ degraded: true }))).toBe('codeseek: Search (hybrid) · results may be incomplete');
  });

  it('says when the index is still being built', () => {
    const building = answer({ index: { ...idle, state: 'indexing' } });
    expect(searchTitle('lexical', { ...building, mode: 'lexical' })).toBe(
      'codeseek: Search (lexical) · indexing, results may be incomplete',
    );
  });
});
