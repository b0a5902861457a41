import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LAUNCH_SETTING_KEYS, SERVER_SETTING_KEYS, serverSettings, settingsSection } from '../../src/settings';

const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
  contributes: { configuration: { properties: Record<string, { default?: unknown; description?: string; markdownDescription?: string }> } };
};
const contributed = manifest.contributes.configuration.properties;

describe('serverSettings', () => {
  it('forwards only what the user set, nested by section', () => {
    const set: Record<string, unknown> = {
      'embedder.provider': 'local',
      'embedder.dimensions': 256,
      'index.exclude': ['**/vendor/**'],
      'hover.related': false,
    };
    expect(serverSettings((key) => set[key])).toEqual({
      embedder: { provider: 'local', dimensions: 256 },
      index: { exclude: ['**/vendor/**'] },
      hover: { related: false },
    });
  });

  it('is empty when nothing is set, so codeseek.toml decides', () => {
    expect(serverSettings(() => undefined)).toEqual({});
  });

  it('treats an empty string or null as "the server default"', () => {
    const set: Record<string, unknown> = { 'embedder.model': '', 'sglang.port': null, 'store.path': '/tmp/idx' };
    expect(serverSettings((key) => set[key])).toEqual({ store: { path: '/tmp/idx' } });
  });

  it('keeps an explicitly empty list and false', () => {
    const set: Record<string, unknown> = { 'index.include': [], 'sglang.launch': false };
    expect(serverSettings((key) => set[key])).toEqual({ index: { include: [] }, sglang: { launch: false } });
  });

  it('never forwards the editor-only settings', () => {
    const everything = (key: string): unknown => `value of ${key}`;
    const settings = serverSettings(everything);
    expect(Object.keys(settings).sort()).toEqual(['embedder', 'hover', 'index', 'reranker', 'sglang', 'store', 'voyage']);
    expect(JSON.stringify(settings)).not.toMatch(/pythonPath|serverCommand|search\.|findRelated|apiKey/i);
  });
});

describe('settingsSection', () => {
  const settings = { embedder: { provider: 'voyage' }, voyage: { model: 'voyage-code-2' } };

  it('answers the whole settings for codeseek or no section', () => {
    expect(settingsSection(settings, 'codeseek')).toBe(settings);
    expect(settingsSection(settings, undefined)).toBe(settings);
  });

  it('answers a nested section and null for what is not set', () => {
    expect(settingsSection(settings, 'codeseek.embedder')).toEqual({ provider: 'voyage' });
    expect(settingsSection(settings, 'codeseek.voyage.model')).toBe('voyage-code-2');
    expect(settingsSection(settings, 'codeseek.index')).toBeNull();
  });
});

describe('package.json contributions', () => {
  it('contributes every forwarded and launch setting with a description', () => {
    for (const key of [...SERVER_SETTING_KEYS, ...LAUNCH_SETTING_KEYS]) {
      const property = contributed[`codeseek.${key}`];
      expect(property, `codeseek.${key}`).toBeDefined();
      expect(property?.description ?? property?.markdownDescription, `codeseek.${key}`).toBeTruthy();
      expect(property, `codeseek.${key} default`).toHaveProperty('default');
    }
  });

  it('has no setting for the Voyage key: it lives in secret storage', () => {
    expect(Object.keys(contributed).filter((key) => /key|secret|token/i.test(key))).toEqual([]);
  });

  it('contributes every command the extension registers', () => {
    const source = readFileSync(join(__dirname, '..', '..', 'src', 'commands.ts'), 'utf8');
    const registered = [...source.matchAll(/register\('([\w.]+)'/g)].map((m) => m[1]);
    const commands = (manifest.contributes as unknown as { commands: { command: string }[] }).commands.map(
      (c) => c.command,
    );
    expect(registered.length).toBeGreaterThan(5);
    expect(registered.sort()).toEqual(commands.sort());
  });
});
