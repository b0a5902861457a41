-- Drives `codeseek serve` from Neovim's built-in LSP client (0.7 or later), headless:
-- start the server on a workspace, wait until the index is idle (polling
-- codeseek/status), send codeseek/search, stop the server, write what happened as
-- JSON, quit. Inputs come from the environment; tests/client/test_neovim.py checks
-- the output.
--
--   CODESEEK_PYTHON     interpreter with codeseek installed
--   CODESEEK_WORKSPACE  the workspace folder
--   CODESEEK_STORE_DIR  where the index goes (never the user's cache)
--   CODESEEK_QUERY      the search query
--   CODESEEK_RESULT     the JSON file to write

local env = {
  python = os.getenv("CODESEEK_PYTHON"),
  workspace = os.getenv("CODESEEK_WORKSPACE"),
  store = os.getenv("CODESEEK_STORE_DIR"),
  query = os.getenv("CODESEEK_QUERY"),
  result = os.getenv("CODESEEK_RESULT"),
}

local report = { progress = {} }

local function write_report()
  local fh = assert(io.open(env.result, "w"))
  fh:write(vim.fn.json_encode(report))
  fh:close()
end

local function request(client, method, params, timeout_ms)
  local done, response, failure = false, nil, nil
  client.request(method, params, function(err, result)
    failure, response, done = err, result, true
  end)
  if not vim.wait(timeout_ms, function() return done end, 20) then
    error(method .. " got no answer within " .. timeout_ms .. " ms")
  end
  if failure then
    error(method .. " failed: " .. vim.inspect(failure))
  end
  return response
end

local function main()
  for name, value in pairs(env) do
    assert(value and value ~= "", "CODESEEK_" .. name:upper() .. " is not set")
  end
  local initialized, exited = false, false
  local client_id = vim.lsp.start_client({
    name = "codeseek",
    cmd = { env.python, "-m", "codeseek", "serve" },
    root_dir = env.workspace,
    workspace_folders = { { uri = vim.uri_from_fname(env.workspace), name = "workspace" } },
    init_options = { store = { path = env.store } },
    handlers = {
      ["$/progress"] = function(_, result)
        if result and result.value and result.value.kind then
          table.insert(report.progress, result.value.kind)
        end
      end,
    },
    on_init = function()
      initialized = true
    end,
    on_exit = function(code)
      report.exit_code = code
      exited = true
    end,
  })
  assert(client_id, "vim.lsp.start_client failed")
  assert(vim.wait(30000, function() return initialized end, 20), "the server did not initialize")
  local client = assert(vim.lsp.get_client_by_id(client_id))

  local status
  local ready = vim.wait(120000, function()
    -- An empty Lua table goes out as `[]`; the server takes it for "no params".
    status = request(client, "codeseek/status", {}, 10000)
    return status.state == "idle" and status.files > 0 and status.pending == 0
  end, 200)
  report.status = status
  assert(ready, "indexing did not finish: " .. vim.inspect(status))

  report.search = request(client, "codeseek/search", { query = env.query, limit = 3 }, 30000)

  client.stop()
  vim.wait(15000, function() return exited end, 20)
end

local ok, err = pcall(main)
if not ok then
  report.error = tostring(err)
end
write_report()
vim.cmd("qa!")
