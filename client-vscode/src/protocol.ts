/**
 * The wire types of codeseek's custom LSP methods (see shared/INTERFACES.md).
 * Plain data only: this module must stay importable outside VS Code, by the unit tests.
 */

export const Methods = {
  search: 'codeseek/search',
  related: 'codeseek/related',
  status: 'codeseek/status',
  reindex: 'codeseek/reindex',
} as const;

export type SearchMode = 'hybrid' | 'semantic' | 'lexical';
export const SEARCH_MODES: readonly SearchMode[] = ['hybrid', 'semantic', 'lexical'];

export interface Position {
  line: number; // 0-based
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export interface Hit {
  uri: string;
  range: Range;
  score: number;
  language: string;
  symbol: string | null;
  kind: string | null;
  preview: string;
}

export type IndexState = 'idle' | 'indexing' | 'error';

export interface IndexStatus {
  state: IndexState;
  files: number;
  chunks: number;
  pending: number;
  provider: string | null;
  model: string | null;
  dimensions: number | null;
  lastIndexedAt: string | null;
  lastError: string | null;
  // The server may add more (skipped files, store path); shown in the status details.
  [extra: string]: unknown;
}

export interface SearchParams {
  query: string;
  limit?: number;
  mode?: SearchMode;
  languages?: string[];
  include?: string[];
  exclude?: string[];
}

export interface SearchResult {
  results: Hit[];
  index: IndexStatus;
}

export interface RelatedParams {
  textDocument: { uri: string };
  position: Position;
  limit?: number;
}

export interface RelatedResult {
  results: Hit[];
}

export interface ReindexParams {
  full?: boolean;
}
