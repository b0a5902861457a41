import { describe, expect, it } from 'vitest';
import { type FolderRef, hitLocation, hitToItem, hitsToItems, kindIcon, previewLine, uriPath } from '../../src/items';
import type { Hit } from '../../src/protocol';

const PROJ: FolderRef[] = [{ uri: 'file:///work/proj', name: 'proj' }];

function folders(...uris: string[]): FolderRef[] {
  return uris.map((uri) => ({ uri, name: uri.slice(uri.lastIndexOf('/') + 1) }));
}

function hit(overrides: Partial<Hit> = {}): Hit {
  return {
    uri: 'file:///work/proj/src/pkg/io.py',
    range: { start: { line: 11, character: 0 }, end: { line: 29, character: 0 } },
    score: 0.83,
    language: 'python',
    symbol: 'JsonStore.load',
    kind: 'method',
    preview: 'def load(self, path):\n    with open(path) as fh:\n        return json.load(fh)',
    ...overrides,
  };
}

describe('hitToItem', () => {
  it('shows the symbol with its kind icon, path:line (1-based) and the first preview line', () => {
    const item = hitToItem(hit(), PROJ);
    expect(item.label).toBe('$(symbol-method) JsonStore.load');
    expect(item.description).toBe('src/pkg/io.py:12');
    expect(item.detail).toBe('def load(self, path):');
    expect(item.alwaysShow).toBe(true);
    expect(item.hit.uri).toBe('file:///work/proj/src/pkg/io.py');
  });

  it('puts the folder first in a multi-root workspace', () => {
    const item = hitToItem(hit({ uri: 'file:///w/web/src/cart.ts' }), folders('file:///w/api', 'file:///w/web'));
    expect(item.description).toBe('web • src/cart.ts:12');
  });

  it('names the declarations folded into the hit (stubs, typings), the first two by file and line', () => {
    const at = (line: number) => ({ start: { line, character: 0 }, end: { line: line + 2, character: 0 } });
    const one = hit({ alsoDeclaredIn: [{ uri: 'file:///work/proj/src/pkg/io.pyi', range: at(39) }] });
    expect(hitToItem(one, PROJ).description).toBe('src/pkg/io.py:12 • also declared in io.pyi:40');
    const three = hit({
      alsoDeclaredIn: [
        { uri: 'file:///work/proj/src/pkg/io.pyi', range: at(39) },
        { uri: 'file:///work/proj/typings/io.d.ts', range: at(4) },
        { uri: 'file:///work/proj/include/io.h', range: at(0) },
      ],
    });
    expect(hitToItem(three, PROJ).description).toBe(
      'src/pkg/io.py:12 • also declared in io.pyi:40, io.d.ts:5 and 1 more',
    );
    expect(hitToItem(hit({ alsoDeclaredIn: [] }), PROJ).description).toBe('src/pkg/io.py:12');
  });

  it('falls back to the file name when the chunk has no symbol', () => {
    const item = hitToItem(hit({ symbol: null, kind: null }), PROJ);
    expect(item.label).toBe('$(symbol-file) io.py');
  });

  it('keeps the server order', () => {
    const items = hitsToItems(
      [hit({ symbol: 'b' }), hit({ symbol: 'a' }), hit({ symbol: 'c' })],
      PROJ,
    );
    expect(items.map((i) => i.label)).toEqual(['$(symbol-method) b', '$(symbol-method) a', '$(symbol-method) c']);
  });
});

describe('hitLocation', () => {
  it('is relative to the folder holding the file', () => {
    expect(hitLocation('file:///work/proj/a/b.ts', PROJ)).toEqual({ path: 'a/b.ts' });
  });

  it('decodes escaped characters', () => {
    expect(hitLocation('file:///work/my%20proj/a%23b.ts', folders('file:///work/my%20proj'))).toEqual({
      path: 'a#b.ts',
    });
  });

  it('names the folder, as VS Code names it, when the workspace has several', () => {
    const two: FolderRef[] = [
      { uri: 'file:///w/one', name: 'one' },
      { uri: 'file:///w/two', name: 'Two (backend)' },
    ];
    expect(hitLocation('file:///w/two/x.go', two)).toEqual({ folder: 'Two (backend)', path: 'x.go' });
  });

  it('picks the innermost folder when one folder is inside another', () => {
    const nested = folders('file:///w/repo', 'file:///w/repo/docs');
    expect(hitLocation('file:///w/repo/docs/guide.md', nested)).toEqual({ folder: 'docs', path: 'guide.md' });
    expect(hitLocation('file:///w/repo/src/x.py', nested)).toEqual({ folder: 'repo', path: 'src/x.py' });
  });

  it('does not match a folder that is only a prefix of the name', () => {
    expect(hitLocation('file:///work/project2/x.py', folders('file:///work/project'))).toEqual({
      path: '/work/project2/x.py',
    });
  });

  it('gives the absolute path outside every folder', () => {
    expect(hitLocation('file:///elsewhere/x.py', PROJ)).toEqual({ path: '/elsewhere/x.py' });
  });

  it('handles Windows drive letters', () => {
    expect(uriPath('file:///c%3A/src/x.cs')).toBe('c:/src/x.cs');
    expect(hitLocation('file:///c%3A/src/x.cs', folders('file:///c%3A/src'))).toEqual({ path: 'x.cs' });
  });
});

describe('previewLine', () => {
  it('skips blank lines and collapses whitespace', () => {
    expect(previewLine('\n\n   fn   main()  {\n}')).toBe('fn main() {');
  });

  it('cuts long lines with an ellipsis', () => {
    const line = previewLine('x'.repeat(300));
    expect(line).toHaveLength(120);
    expect(line.endsWith('…')).toBe(true);
  });

  it('is empty for an empty preview', () => {
    expect(previewLine('')).toBe('');
  });
});

describe('kindIcon', () => {
  it('maps known kinds case-insensitively and unknown ones to a file', () => {
    expect(kindIcon('Class')).toBe('symbol-class');
    expect(kindIcon('function')).toBe('symbol-function');
    expect(kindIcon('gizmo')).toBe('symbol-file');
    expect(kindIcon(null)).toBe('symbol-file');
  });
});
