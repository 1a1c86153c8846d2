-- soak.lua - the wrk workload of tests/soak/soak.py: mixed reads and writes
-- against one cimid, as one user.
--
-- Per request, at random: GET one machine (50%), GET the machine collection
-- with a $filter on a name (20%), PUT a new name on a machine (partial
-- update, $select=name) (15%), POST a new machine (10%; created STOPPED),
-- and DELETE of a machine this thread created at least 3 seconds earlier
-- (its creation Job is over by then) whenever one is due, so that the
-- number of machines stays bounded.  Statuses are counted per thread and
-- printed by done() as one line "soak-statuses CODE=N ...".
--
-- Configured by soak.py through the environment: SOAK_AUTH (the
-- Authorization header value), SOAK_IDS (space-separated machine paths,
-- /cimi/machines/<id>), SOAK_TEMPLATE (a MachineCreate JSON body without name).

local auth = os.getenv("SOAK_AUTH")
local ids = {}
for id in string.gmatch(os.getenv("SOAK_IDS") or "", "%S+") do
  ids[#ids + 1] = id
end
local template = os.getenv("SOAK_TEMPLATE")
local threads = {}
local thread_no = 0

statuses = {}       -- per thread: status code -> count
local to_delete = {} -- paths of machines this thread created, with the time
local serial = 0

function setup(thread)
  thread_no = thread_no + 1
  thread:set("thread_id", thread_no)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(os.time() + (thread_id or 0) * 7919)
end

local function headers(body)
  local h = {["Authorization"] = auth, ["Accept"] = "application/json"}
  if body then
    h["Content-Type"] = "application/json"
  end
  return h
end

local function due_delete()
  local first = to_delete[1]
  if first and os.time() - first.t >= 3 then
    table.remove(to_delete, 1)
    return first.path
  end
  return nil
end

function request()
  local path = due_delete()
  if path then
    return wrk.format("DELETE", path, headers(nil))
  end
  local r = math.random()
  local id = ids[math.random(#ids)]
  if r < 0.50 then
    return wrk.format("GET", id, headers(nil))
  elseif r < 0.70 then
    -- $filter=name='soak-N', percent-encoded
    local q = "%24filter=name%3D%27soak-" .. math.random(#ids) .. "%27"
    return wrk.format("GET", "/cimi/machines?" .. q, headers(nil))
  elseif r < 0.85 then
    serial = serial + 1
    local body = '{"resourceURI": "http://schemas.dmtf.org/cimi/1/Machine", "name": "soak-'
      .. math.random(#ids) .. '"}'
    return wrk.format("PUT", id .. "?%24select=name", headers(body), body)
  else
    serial = serial + 1
    local body = '{"name": "soak-new-' .. thread_id .. '-' .. serial .. '", ' .. template
    return wrk.format("POST", "/cimi/machines", headers(body), body)
  end
end

function response(status, hdrs, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 201 or status == 202 then  -- only creates are POSTed: 202 while the Job runs
    local loc = hdrs["Location"]
    if loc then
      local path = string.match(loc, "^https?://[^/]+(/.*)$") or loc
      to_delete[#to_delete + 1] = {path = path, t = os.time()}
    end
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    for code, n in pairs(s) do
      total[code] = (total[code] or 0) + n
    end
  end
  local parts = {}
  for code, n in pairs(total) do
    parts[#parts + 1] = code .. "=" .. n
  end
  table.sort(parts)
  io.write("soak-statuses " .. table.concat(parts, " ") .. "\n")
  io.write(string.format("soak-summary requests=%d duration_us=%d errors_connect=%d "
    .. "errors_read=%d errors_write=%d errors_timeout=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50),
    latency:percentile(99)))
end
