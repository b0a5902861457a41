/**
 * VS Code's `codeseek.*` settings to the server's configuration (docs/interfaces.md, "Configuration").
 *
 * Only settings the user actually set are forwarded: the server layers defaults, then
 * `codeseek.toml`, then these, so forwarding VS Code's defaults would silently override
 * the workspace's `codeseek.toml`.
 */
import { SERVER_SETTING_KEYS } from './serverSettingKeys';

/**
 * Settings the server reads: generated from server/codeseek/config.py with their
 * package.json entries (tests/unit/test_config_schema.py fails when either is stale).
 */
export { SERVER_SETTING_KEYS };

export type ServerSettingKey = (typeof SERVER_SETTING_KEYS)[number];

/** Settings that change how the server process is started: a change needs a restart. */
export const LAUNCH_SETTING_KEYS = ['pythonPath', 'serverCommand'] as const;

/** Nested camelCase settings, e.g. `{embedder: {provider: "local"}}`. */
export type ServerSettings = Record<string, Record<string, unknown>>;

/**
 * Build the server's settings from the values the user set.
 *
 * `explicitValue(key)` returns the value of `codeseek.<key>` when the user set it in
 * any scope, else undefined. An empty string or null means "the server's default"
 * in every text or number setting, so it is not forwarded either.
 */
export function serverSettings(explicitValue: (key: ServerSettingKey) => unknown): ServerSettings {
  const settings: ServerSettings = {};
  for (const key of SERVER_SETTING_KEYS) {
    const value = explicitValue(key);
    if (value === undefined || value === null || value === '') {
      continue;
    }
    const [section, name] = key.split('.') as [string, string];
    (settings[section] ??= {})[name] = value;
  }
  return settings;
}

/** The part of the settings a `workspace/configuration` item asks for (`codeseek`, `codeseek.embedder`, ...). */
export function settingsSection(settings: ServerSettings, section: string | undefined): unknown {
  if (section === undefined || section === '' || section === 'codeseek') {
    return settings;
  }
  const path = section.replace(/^codeseek\./, '').split('.');
  let node: unknown = settings;
  for (const part of path) {
    if (node === null || typeof node !== 'object') {
      return null;
    }
    node = (node as Record<string, unknown>)[part];
  }
  return node ?? null;
}
