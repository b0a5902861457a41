/**
 * Search and related-code results as QuickPick items. Pure: the item shape is structural,
 * so it needs nothing from VS Code and the unit tests can call it directly.
 */
import type { Hit } from './protocol';

export interface HitItem {
  label: string;
  description: string;
  detail: string;
  /** The server ranked the results; VS Code's own label filter must not hide them. */
  alwaysShow: true;
  hit: Hit;
}

const KIND_ICONS: Record<string, string> = {
  function: 'symbol-function',
  method: 'symbol-method',
  constructor: 'symbol-constructor',
  class: 'symbol-class',
  interface: 'symbol-interface',
  trait: 'symbol-interface',
  struct: 'symbol-structure',
  enum: 'symbol-enum',
  module: 'symbol-namespace',
  namespace: 'symbol-namespace',
  impl: 'symbol-namespace',
  type: 'symbol-type-parameter',
  constant: 'symbol-constant',
  variable: 'symbol-variable',
  property: 'symbol-property',
  field: 'symbol-field',
  section: 'symbol-key',
};

const PREVIEW_MAX = 120;

export function kindIcon(kind: string | null): string {
  return (kind && KIND_ICONS[kind.toLowerCase()]) || 'symbol-file';
}

/** `file:///w/src/a%20b.py` -> `/w/src/a b.py`; anything else is returned unchanged. */
export function uriPath(uri: string): string {
  try {
    const url = new URL(uri);
    if (url.protocol !== 'file:') {
      return uri;
    }
    const path = decodeURIComponent(url.pathname);
    // file:///c%3A/x -> c:/x on Windows URIs.
    return /^\/[A-Za-z]:/.test(path) ? path.slice(1) : path;
  } catch {
    return uri;
  }
}

/**
 * The hit's path relative to the workspace folder that holds it (forward slashes),
 * prefixed with the folder's name when there are several folders.
 */
export function relativePath(uri: string, folderUris: readonly string[]): string {
  const path = uriPath(uri);
  for (const folderUri of folderUris) {
    const folder = uriPath(folderUri).replace(/\/+$/, '');
    if (path.startsWith(folder + '/')) {
      const inside = path.slice(folder.length + 1);
      return folderUris.length > 1 ? `${basename(folder)}/${inside}` : inside;
    }
  }
  return path;
}

export function basename(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** The first line of the preview that says something, whitespace collapsed, cut to fit one row. */
export function previewLine(preview: string): string {
  const line =
    preview
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => l !== '') ?? '';
  const collapsed = line.replace(/\s+/g, ' ');
  return collapsed.length > PREVIEW_MAX ? collapsed.slice(0, PREVIEW_MAX - 1) + '…' : collapsed;
}

export function hitToItem(hit: Hit, folderUris: readonly string[]): HitItem {
  const path = relativePath(hit.uri, folderUris);
  const line = hit.range.start.line + 1;
  const name = hit.symbol ?? basename(path);
  return {
    label: `$(${kindIcon(hit.kind)}) ${name}`,
    description: `${path}:${line}`,
    detail: previewLine(hit.preview),
    alwaysShow: true,
    hit,
  };
}

export function hitsToItems(hits: readonly Hit[], folderUris: readonly string[]): HitItem[] {
  return hits.map((hit) => hitToItem(hit, folderUris));
}
