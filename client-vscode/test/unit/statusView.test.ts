import { describe, expect, it } from 'vitest';
import type { IndexStatus } from '../../src/protocol';
import { progressText, shortModelName, statusBarView, traceForLogLevel } from '../../src/statusView';

function indexStatus(overrides: Partial<IndexStatus> = {}): IndexStatus {
  return {
    state: 'idle',
    files: 120,
    chunks: 1234,
    pending: 0,
    embedded: 1234,
    denseTotal: 1234,
    densePercent: 100,
    complete: true,
    message: null,
    progress: null,
    secrets: {},
    provider: 'local',
    model: 'sentence-transformers/all-MiniLM-L6-v2',
    dimensions: 384,
    lastIndexedAt: '2025-01-02T03:04:05Z',
    lastError: null,
    providerReason: null,
    skipped: [],
    storePath: '/home/ada/.cache/codeseek/indexes/proj-0123456789ab',
    embedderAvailable: true,
    roots: [],
    ...overrides,
  };
}

describe('statusBarView', () => {
  it('shows the chunk count and provider/model when idle', () => {
    const view = statusBarView({ kind: 'ready', status: indexStatus() });
    expect(view.text).toBe('$(search) 1,234 chunks · local/sentence-transformers/all-MiniLM-L6-v2');
    expect(view.tooltip).toContain('120 files, 1,234 chunks');
    expect(view.tooltip).toContain('384 dimensions');
    expect(view.severity).toBe('normal');
    expect(view.command).toBe('codeseek.showStatus');
  });

  it("shows the server's progress message while indexing", () => {
    const view = statusBarView({ kind: 'indexing', progress: { title: 'Indexing', message: '12/40 files', percentage: 30 } });
    expect(view.text).toBe('$(sync~spin) codeseek: indexing 12/40 files');
  });

  it('falls back to the percentage when the progress has no message', () => {
    expect(progressText({ percentage: 29.6 })).toBe('30%');
    expect(statusBarView({ kind: 'indexing', progress: {} }).text).toBe('$(sync~spin) codeseek: indexing');
  });

  it('says how many files are left when the index is busy without progress', () => {
    const view = statusBarView({ kind: 'ready', status: indexStatus({ state: 'indexing', pending: 7 }) });
    expect(view.text).toBe('$(sync~spin) codeseek: indexing (7 files left)');
  });

  it('shows the run\'s files and chunks, then how much is embedded with the rate and time left', () => {
    const chunking = statusBarView({
      kind: 'indexing',
      progress: { title: 'Indexing transformers', message: '120/2,913 files · 8,400 chunks', percentage: 4 },
    });
    expect(chunking.text).toBe('$(sync~spin) codeseek: indexing 120/2,913 files · 8,400 chunks');
    const embedding = statusBarView({
      kind: 'indexing',
      progress: {
        title: 'Embedding transformers',
        message: '32% embedded · 38,000/118,567 chunks · 29 chunks/s · about 46 min left',
        percentage: 32,
      },
    });
    expect(embedding.text).toBe(
      '$(sync~spin) codeseek: indexing 32% embedded · 38,000/118,567 chunks · 29 chunks/s · about 46 min left',
    );
    expect(embedding.tooltip).toBe(
      'Embedding transformers\n32% embedded · 38,000/118,567 chunks · 29 chunks/s · about 46 min left',
    );
  });

  it('says how much is embedded while the backlog fills in without a progress', () => {
    const status = indexStatus({ state: 'indexing', embedded: 395, denseTotal: 1234, densePercent: 32 });
    const view = statusBarView({ kind: 'ready', status });
    expect(view.text).toBe('$(sync~spin) codeseek: indexing · 32% embedded');
    expect(view.tooltip).toContain('Embedded: 32% (395 of 1,234 chunks); the rest is found by its words');
  });

  it('turns red and opens the logs on an index error', () => {
    const view = statusBarView({ kind: 'ready', status: indexStatus({ state: 'error', lastError: 'disk full' }) });
    expect(view.severity).toBe('error');
    expect(view.command).toBe('codeseek.showLogs');
    expect(view.tooltip).toContain('disk full');
  });

  it('turns red and opens the logs when the server is unavailable', () => {
    const view = statusBarView({ kind: 'error', message: 'codeseek is not installed in python3' });
    expect(view).toMatchObject({ severity: 'error', command: 'codeseek.showLogs', visible: true });
    expect(view.tooltip).toContain('not installed');
  });

  it('hides itself without a workspace', () => {
    expect(statusBarView({ kind: 'noWorkspace' }).visible).toBe(false);
  });

  it('lists each folder in the tooltip when the workspace has several', () => {
    const folder = (uri: string, files: number, chunks: number, state: 'idle' | 'indexing' = 'idle') => ({
      ...indexStatus({ files, chunks, state }),
      uri,
    });
    const view = statusBarView({
      kind: 'ready',
      status: indexStatus({
        files: 12,
        chunks: 1300,
        roots: [folder('file:///w/api', 10, 1200), folder('file:///w/web%20app', 2, 100, 'indexing')],
      }),
    });
    expect(view.tooltip).toContain('api: 10 files, 1,200 chunks\n');
    expect(view.tooltip).toContain('web app: 2 files, 100 chunks (indexing)');
    const single = statusBarView({ kind: 'ready', status: indexStatus({ roots: [folder('file:///w/api', 120, 1234)] }) });
    expect(single.tooltip).not.toContain('api:');
  });

  it('shows no provider part before the embedder is known', () => {
    const view = statusBarView({ kind: 'ready', status: indexStatus({ chunks: 0, provider: null, model: null }) });
    expect(view.text).toBe('$(search) 0 chunks');
  });
});

describe('shortModelName', () => {
  it('keeps hub ids and shortens local paths', () => {
    expect(shortModelName('Qwen/Qwen3-Embedding-4B')).toBe('Qwen/Qwen3-Embedding-4B');
    expect(shortModelName('/models/qwen/Qwen3-Embedding-0.6B')).toBe('Qwen3-Embedding-0.6B');
    expect(shortModelName('C:\\models\\bge')).toBe('bge');
  });
});

describe('traceForLogLevel', () => {
  it('follows the output channel: Trace is verbose, Debug is messages, anything else off', () => {
    expect(traceForLogLevel(1)).toBe('verbose');
    expect(traceForLogLevel(2)).toBe('messages');
    expect(traceForLogLevel(3)).toBe('off');
    expect(traceForLogLevel(0)).toBe('off');
  });
});
