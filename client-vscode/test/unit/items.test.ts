import { describe, expect, it } from 'vitest';
import { hitToItem, hitsToItems, kindIcon, previewLine, relativePath, uriPath } from '../../src/items';
import type { Hit } from '../../src/protocol';

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
    const item = hitToItem(hit(), ['file:///work/proj']);
    expect(item.label).toBe('$(symbol-method) JsonStore.load');
    expect(item.description).toBe('src/pkg/io.py:12');
    expect(item.detail).toBe('def load(self, path):');
    expect(item.alwaysShow).toBe(true);
    expect(item.hit.uri).toBe('file:///work/proj/src/pkg/io.py');
  });

  it('falls back to the file name when the chunk has no symbol', () => {
    const item = hitToItem(hit({ symbol: null, kind: null }), ['file:///work/proj']);
    expect(item.label).toBe('$(symbol-file) io.py');
  });

  it('keeps the server order', () => {
    const items = hitsToItems(
      [hit({ symbol: 'b' }), hit({ symbol: 'a' }), hit({ symbol: 'c' })],
      ['file:///work/proj'],
    );
    expect(items.map((i) => i.label)).toEqual(['$(symbol-method) b', '$(symbol-method) a', '$(symbol-method) c']);
  });
});

describe('relativePath', () => {
  it('is relative to the folder holding the file', () => {
    expect(relativePath('file:///work/proj/a/b.ts', ['file:///work/proj'])).toBe('a/b.ts');
  });

  it('decodes escaped characters', () => {
    expect(relativePath('file:///work/my%20proj/a%23b.ts', ['file:///work/my%20proj'])).toBe('a#b.ts');
  });

  it('names the folder when the workspace has several', () => {
    expect(relativePath('file:///w/two/x.go', ['file:///w/one', 'file:///w/two'])).toBe('two/x.go');
  });

  it('does not match a folder that is only a prefix of the name', () => {
    expect(relativePath('file:///work/project2/x.py', ['file:///work/project'])).toBe('/work/project2/x.py');
  });

  it('gives the absolute path outside every folder', () => {
    expect(relativePath('file:///elsewhere/x.py', ['file:///work/proj'])).toBe('/elsewhere/x.py');
  });

  it('handles Windows drive letters', () => {
    expect(uriPath('file:///c%3A/src/x.cs')).toBe('c:/src/x.cs');
    expect(relativePath('file:///c%3A/src/x.cs', ['file:///c%3A/src'])).toBe('x.cs');
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
