import { describe, expect, it } from 'vitest';
import {
  chooseServerLaunch,
  classifyProbe,
  crashSummary,
  describeLaunch,
  expandPath,
  installCommand,
  type LaunchInputs,
  OutputTail,
  PROBE_ARGS,
  probeSpawn,
  resolveProgram,
  serverSpawn,
  shellQuote,
} from '../../src/interpreter';

function inputs(overrides: Partial<LaunchInputs> = {}): LaunchInputs {
  return {
    serverCommand: [],
    pythonPath: '',
    workspaceFolder: '/work/proj',
    home: '/home/ada',
    env: { VENV: '/opt/venv' },
    platform: 'linux',
    ...overrides,
  };
}

describe('chooseServerLaunch', () => {
  it('runs `python3 -m codeseek serve` when nothing is configured', () => {
    expect(chooseServerLaunch(inputs())).toEqual({
      command: 'python3',
      args: ['-m', 'codeseek', 'serve'],
      source: 'default',
      python: 'python3',
    });
  });

  it('uses `python` on Windows', () => {
    expect(chooseServerLaunch(inputs({ platform: 'win32' })).command).toBe('python');
  });

  it("prefers the Python extension's interpreter over the default", () => {
    const launch = chooseServerLaunch(inputs({ pythonExtensionInterpreter: '/proj/.venv/bin/python' }));
    expect(launch.source).toBe('pythonExtension');
    expect(launch.command).toBe('/proj/.venv/bin/python');
    expect(launch.python).toBe('/proj/.venv/bin/python');
  });

  it('prefers codeseek.pythonPath over the Python extension, expanding variables', () => {
    const launch = chooseServerLaunch(
      inputs({ pythonPath: '${workspaceFolder}/.venv/bin/python', pythonExtensionInterpreter: '/usr/bin/python3' }),
    );
    expect(launch).toMatchObject({ source: 'pythonPath', command: '/work/proj/.venv/bin/python' });
    expect(launch.args).toEqual(['-m', 'codeseek', 'serve']);
  });

  it('runs codeseek.serverCommand as given, with no interpreter to check', () => {
    const launch = chooseServerLaunch(
      inputs({ serverCommand: ['~/bin/codeseek', 'serve', '--tcp', '127.0.0.1:0'], pythonPath: '/usr/bin/python3' }),
    );
    expect(launch).toEqual({
      command: '/home/ada/bin/codeseek',
      args: ['serve', '--tcp', '127.0.0.1:0'],
      source: 'serverCommand',
    });
  });

  it('ignores a serverCommand of blank strings', () => {
    expect(chooseServerLaunch(inputs({ serverCommand: ['  ', ''] })).source).toBe('default');
  });

  it('resolves relative program paths against the first workspace folder', () => {
    expect(chooseServerLaunch(inputs({ pythonPath: '.venv/bin/python' })).command).toBe('/work/proj/.venv/bin/python');
    expect(chooseServerLaunch(inputs({ serverCommand: ['./tools/codeseek', 'serve'] })).command).toBe(
      '/work/proj/tools/codeseek',
    );
    // A bare name is looked up on PATH, as a shell would.
    expect(chooseServerLaunch(inputs({ pythonPath: 'python3.12' })).command).toBe('python3.12');
  });
});

describe('resolveProgram', () => {
  it('follows the platform rules for absolute paths', () => {
    expect(resolveProgram('/usr/bin/python3', '/work/proj', 'linux')).toBe('/usr/bin/python3');
    expect(resolveProgram('C:\\Python312\\python.exe', 'C:\\proj', 'win32')).toBe('C:\\Python312\\python.exe');
    expect(resolveProgram('.venv\\Scripts\\python.exe', 'C:\\proj', 'win32')).toBe('C:\\proj\\.venv\\Scripts\\python.exe');
    expect(resolveProgram('venv/bin/python', undefined, 'linux')).toBe('venv/bin/python');
  });
});

describe('the server and the probe never run in the workspace', () => {
  // `python -m` imports from its working folder first: a workspace holding types.py,
  // json.py or codeseek.py at its root would break or replace the server.
  const neutral = '/home/ada/.config/Code/User/globalStorage/codeseek.codeseek/server-cwd';
  const env = { PATH: '/usr/bin', PYTHONPATH: '/opt/lib' };

  it('starts `<python> -m codeseek serve` from the neutral folder, with the environment as it is', () => {
    for (const launch of [
      chooseServerLaunch(inputs()),
      chooseServerLaunch(inputs({ pythonPath: '${workspaceFolder}/.venv/bin/python' })),
      chooseServerLaunch(inputs({ pythonExtensionInterpreter: '/work/proj/.venv/bin/python' })),
    ]) {
      const spec = serverSpawn(launch, neutral, env);
      expect(spec.args).toEqual(['-m', 'codeseek', 'serve']);
      expect(spec.options.cwd).toBe(neutral);
      // PYTHONPATH and the user site-packages stay usable: no -I, no -E, no -s.
      expect(spec.options.env).toBe(env);
      expect(spec.args.some((arg) => /^-[IEsP]$/.test(arg))).toBe(false);
    }
  });

  it('runs a custom serverCommand from the neutral folder too', () => {
    const spec = serverSpawn(chooseServerLaunch(inputs({ serverCommand: ['codeseek', 'serve'] })), neutral, env);
    expect(spec).toEqual({ command: 'codeseek', args: ['serve'], options: { cwd: neutral, env } });
  });

  it('probes the interpreter from the same folder', () => {
    expect(probeSpawn('/work/proj/.venv/bin/python', neutral, env)).toEqual({
      command: '/work/proj/.venv/bin/python',
      args: [...PROBE_ARGS],
      options: { cwd: neutral, env },
    });
  });
});

describe('expandPath', () => {
  it('expands ~, ${userHome} and ${env:...}', () => {
    const base = inputs();
    expect(expandPath('~/venv/bin/python', base)).toBe('/home/ada/venv/bin/python');
    expect(expandPath('${userHome}/x', base)).toBe('/home/ada/x');
    expect(expandPath('${env:VENV}/bin/python', base)).toBe('/opt/venv/bin/python');
    expect(expandPath('${env:MISSING}/python', base)).toBe('/python');
  });

  it('leaves ~ inside a path alone', () => {
    expect(expandPath('/a/~b', inputs())).toBe('/a/~b');
  });
});

describe('installCommand', () => {
  it('names the exact interpreter', () => {
    expect(installCommand('/proj/.venv/bin/python', 'linux')).toBe('/proj/.venv/bin/python -m pip install codeseek-lsp');
  });

  it('quotes paths with spaces for the platform shell', () => {
    expect(installCommand('/Users/Ada Lovelace/venv/bin/python', 'darwin')).toBe(
      "'/Users/Ada Lovelace/venv/bin/python' -m pip install codeseek-lsp",
    );
    expect(installCommand('C:\\Program Files\\Python312\\python.exe', 'win32')).toBe(
      '"C:\\Program Files\\Python312\\python.exe" -m pip install codeseek-lsp',
    );
  });

  it("escapes single quotes on POSIX", () => {
    expect(shellQuote("it's", 'linux')).toBe("'it'\\''s'");
  });
});

describe('describeLaunch', () => {
  it('says the command line and where it came from', () => {
    expect(describeLaunch(chooseServerLaunch(inputs({ pythonPath: '/usr/bin/python3' })))).toBe(
      '/usr/bin/python3 -m codeseek serve (from codeseek.pythonPath)',
    );
  });
});

describe('classifyProbe', () => {
  it('tells a missing interpreter, a missing package, success and other failures apart', () => {
    expect(classifyProbe({ spawnErrorCode: 'ENOENT', exitCode: null, stderr: '' })).toEqual({ kind: 'pythonNotFound' });
    expect(classifyProbe({ exitCode: 3, stderr: '' })).toEqual({ kind: 'codeseekMissing' });
    expect(classifyProbe({ exitCode: 0, stderr: '' })).toEqual({ kind: 'ok' });
    expect(classifyProbe({ exitCode: 1, stderr: 'Traceback...\nSyntaxError: bad\n' })).toEqual({
      kind: 'failed',
      detail: 'SyntaxError: bad',
      stderr: 'Traceback...\nSyntaxError: bad\n',
    });
  });
});

describe('crashSummary', () => {
  it("quotes the exception of a traceback, not the pythonPath advice", () => {
    const stderr = [
      'Traceback (most recent call last):',
      '  File "/usr/lib/python3.11/enum.py", line 3, in <module>',
      '    from types import MappingProxyType, DynamicClassAttribute',
      "ImportError: cannot import name 'MappingProxyType' from partially initialized module 'types'",
      '',
    ].join('\n');
    expect(crashSummary(stderr)).toBe("ImportError: cannot import name 'MappingProxyType' from partially initialized module 'types'");
  });

  it("prefers codeseek's own one-line error, and falls back to the last line", () => {
    expect(crashSummary('INFO starting\ncodeseek: error: store.path: cannot create /x\nbye\n')).toBe(
      'codeseek: error: store.path: cannot create /x',
    );
    expect(crashSummary('Killed\n')).toBe('Killed');
    expect(crashSummary('\n')).toBeUndefined();
  });
});

describe('OutputTail', () => {
  it('keeps only the end of what was written', () => {
    const tail = new OutputTail(10);
    tail.append('0123456789');
    tail.append('abc');
    expect(tail.toString()).toBe('3456789abc');
    tail.clear();
    expect(tail.toString()).toBe('');
  });
});
