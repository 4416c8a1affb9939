-- wrk script: POST bodies read from a file (one JSON body per line), rotating through them.
--
--   wrk -t1 -c32 -d5s -s load_tests/wrk_post.lua http://127.0.0.1:8000/v1/score -- bodies.jsonl
--
-- Every thread pre-formats each body as a complete request once (init), then sends them in turn,
-- starting at a different offset per thread so that threads do not send the same body in lockstep.
-- Extra headers (e.g. an API key) come from the environment variable WRK_HEADERS, one "Name: value"
-- per line, so that they never appear on the command line.
-- done() prints one machine-readable line, "WRK_JSON {...}", which load_tests/wrk.py parses.

local requests = {}
local index = 0
local thread_counter = 0

function setup(thread)
  thread:set("thread_id", thread_counter)
  thread_counter = thread_counter + 1
end

function init(args)
  local path = args[1]
  local file = assert(io.open(path, "r"), "cannot open bodies file " .. tostring(path))
  local headers = { ["Content-Type"] = "application/json" }
  for line in (os.getenv("WRK_HEADERS") or ""):gmatch("[^\n]+") do
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then headers[name] = value end
  end
  for line in file:lines() do
    if #line > 0 then
      requests[#requests + 1] = wrk.format("POST", nil, headers, line)
    end
  end
  file:close()
  assert(#requests > 0, "no bodies in " .. path)
  index = ((thread_id or 0) * 7919) % #requests
end

function request()
  index = index % #requests + 1
  return requests[index]
end

function done(summary, latency, requests_)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "p99.9": %d, "max": %d, "mean": %.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
