local M = {}

local DEFAULT_SEP = ","

--- Splits a string on a separator.
function M.split(s, sep)
  local out = {}
  for part in string.gmatch(s, "([^" .. (sep or DEFAULT_SEP) .. "]+)") do
    table.insert(out, part)
  end
  return out
end

function M:trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

local function helper(x)
  return x * 2
end

local join = function(t, sep)
  return table.concat(t, sep)
end

return M
