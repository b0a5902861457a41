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

/** A workspace folder as VS Code names it. */
export interface FolderRef {
  uri: string;
  name: string;
}

export interface HitLocation {
  /** The name of the folder holding the file, only when the workspace has several. */
  folder?: string;
  /** Relative to that folder (forward slashes), or absolute outside every folder. */
  path: string;
}

/** Where a hit is, in the workspace's terms: the innermost folder holding it wins. */
export function hitLocation(uri: string, folders: readonly FolderRef[]): HitLocation {
  const path = uriPath(uri);
  let best: { folder: FolderRef; root: string } | undefined;
  for (const folder of folders) {
    const root = uriPath(folder.uri).replace(/\/+$/, '');
    if (path.startsWith(root + '/') && (!best || root.length > best.root.length)) {
      best = { folder, root };
    }
  }
  if (!best) {
    return { path };
  }
  const inside = path.slice(best.root.length + 1);
  return folders.length > 1 ? { folder: best.folder.name, path: inside } : { path: inside };
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

/** How many of the places a symbol is also declared in are named; the rest are counted. */
const DECLARED_SHOWN = 2;

/**
 * `also declared in more.pyi:40`: the declarations (stubs, typings, prototypes) the server
 * folded into this implementation's hit, by file name and line; '' when there are none.
 */
export function declaredText(hit: Hit, folders: readonly FolderRef[]): string {
  const places = (hit.alsoDeclaredIn ?? []).map(
    (d) => `${basename(hitLocation(d.uri, folders).path)}:${d.range.start.line + 1}`,
  );
  if (places.length === 0) {
    return '';
  }
  const more = places.length - DECLARED_SHOWN;
  return `also declared in ${places.slice(0, DECLARED_SHOWN).join(', ')}${more > 0 ? ` and ${more} more` : ''}`;
}

export function hitToItem(hit: Hit, folders: readonly FolderRef[]): HitItem {
  const { folder, path } = hitLocation(hit.uri, folders);
  const line = hit.range.start.line + 1;
  const name = hit.symbol ?? basename(path);
  const declared = declaredText(hit, folders);
  return {
    label: `$(${kindIcon(hit.kind)}) ${name}`,
    // The folder first, as VS Code's own Quick Open shows it in a multi-root workspace.
    description: [folder, `${path}:${line}`, declared].filter((part) => part).join(' • '),
    detail: previewLine(hit.preview),
    alwaysShow: true,
    hit,
  };
}

export function hitsToItems(hits: readonly Hit[], folders: readonly FolderRef[]): HitItem[] {
  return hits.map((hit) => hitToItem(hit, folders));
}
