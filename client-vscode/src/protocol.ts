/**
 * The wire types of codeseek's custom LSP methods (see docs/interfaces.md).
 * Plain data only: this module must stay importable outside VS Code, by the unit tests.
 * tests/lsp/test_launch.py compares these interfaces' fields with what the real server
 * sends, so a field added on either side without the other fails there.
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
  /** Declarations of the same symbol folded into this hit (a `.pyi` stub, a `.d.ts` typing, a prototype). */
  alsoDeclaredIn?: { uri: string; range: Range }[];
}

export type IndexState = 'idle' | 'indexing' | 'error';

/** A file the index left out, and why (too large, binary, unreadable, ...). */
export interface SkippedFile {
  path: string; // relative to its workspace folder
  reason: string;
  uri?: string; // only in the combined status of several folders
}

/** One workspace folder's index. */
/**
 * The run in progress: the run's files and the chunks they gave while chunking; while
 * embedding, the whole index's chunks with a vector out of those that get one, with the
 * rate and the time left.
 */
export interface IndexProgress {
  phase: 'discover' | 'chunk' | 'embed' | 'optimize' | 'done';
  filesDone: number;
  filesTotal: number;
  chunksDone: number;
  chunksTotal: number;
  /** Chunks embedded per second over the recent past. */
  rate: number | null;
  etaSeconds: number | null;
  /**
   * One line: "120/2,913 files · 8,400 chunks" while chunking, "32% embedded ·
   * 38,000/118,567 chunks · 29 chunks/s · about 46 min left" while embedding.
   */
  message: string;
}

export interface FolderStatus {
  state: IndexState;
  files: number;
  chunks: number;
  pending: number;
  /** Chunks with a vector; the others are found by their words until they get one. */
  embedded: number;
  /** Chunks that get a vector (import blocks and the like never do). */
  denseTotal: number;
  densePercent: number;
  /** Every file chunked by a finished run, and every vector in. */
  complete: boolean;
  /** What is going on, in a line ("the index is damaged; rebuilding it"). */
  message: string | null;
  progress: IndexProgress | null;
  /** Secrets masked before indexing, per file (path, or URI in a combined status). */
  secrets: Record<string, number>;
  provider: string | null;
  providerReason: string | null;
  model: string | null;
  dimensions: number | null;
  lastIndexedAt: string | null;
  lastError: string | null;
  skipped: SkippedFile[];
  storePath: string | null;
  embedderAvailable: boolean;
  /** Present when the folder searches a shared team index (`store.shared`) under a local overlay. */
  team?: TeamStatus | null;
}

/** Where a folder's results come from when it searches a shared team index. */
export interface TeamStatus {
  /** The shared index's URI, without credentials. */
  shared: string;
  sharedFiles: number;
  sharedChunks: number;
  /** Files searched from the local overlay: their content differs from the shared index's. */
  overlayFiles: number;
  /** Shared files this workspace does not have (deleted, ignored): never shown. */
  hidden: number;
  /** When the list of shared files was last read (ISO 8601, UTC). */
  fetchedAt: string | null;
  reachable: boolean;
  error: string | null;
}

/** Folder-level entries carry their folder. */
export interface RootStatus extends FolderStatus {
  uri: string;
}

/**
 * The whole workspace: totals over its folders (the busiest state, the first error),
 * each folder's own under `roots`.
 */
export interface IndexStatus extends FolderStatus {
  roots: RootStatus[];
  /** The folder, when there is exactly one. */
  uri?: string;
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
  /** The mode the server used: `lexical` when the embedder could not answer. */
  mode: SearchMode;
  /** True when the search was not the one asked for, or a folder failed; `message` says why. */
  degraded: boolean;
  message: string | null;
  /** How much of the least-embedded folder has its vectors: below 100, part is matched by words only. */
  densePercent: number;
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
