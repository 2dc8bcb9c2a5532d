-- Balance changes: PATCH /api/v1/balance crediting 1.00 with an administrator's token, to the users
-- of BALANCE_USERS (a file of user ids, one per line) in turn: many users, or one hot user when the
-- file holds one id. Thread k of n takes ids k, k+n, k+2n, ... (wrapping around).
-- env: WRK_PATH, WRK_BEARER, BALANCE_USERS, WRK_THREADS
local path = os.getenv("WRK_PATH") or "/api/v1/balance"
local hdrs = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("WRK_BEARER") }
local nthreads = tonumber(os.getenv("WRK_THREADS") or "1")
local ids = {}
for line in io.lines(os.getenv("BALANCE_USERS")) do
  if #line > 0 then table.insert(ids, line) end
end
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

local i = 0

function request()
  local id = ids[((tid or 0) + i * nthreads) % #ids + 1]
  i = i + 1
  return wrk.format("PATCH", path, hdrs,
    '{"action":"in","value_type":"real","value":"1.00","user_id":"' .. id .. '"}')
end
