-- Argo CD health of a dataproducts.io/DataProductAccess (a consumer's access request).
--
-- status.phase: Pending, Approved, Granted, Denied, Expired, Revoked; the Ready condition is
-- True only when the grant is in place. A request waiting for the producer's approval (reason
-- AwaitingApproval) waits for people, not for the operator: it is Suspended. A stale status
-- (observedGeneration behind metadata.generation) is Progressing.
-- Written for Argo CD's Lua 5.1 (gopher-lua); tested with lua5.1 and lua5.4.
local hs = {}

local function condition(status, kind)
  if status == nil or type(status.conditions) ~= "table" then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c == nil then
    return fallback
  end
  local text = c.message
  if text == nil or text == "" then
    text = fallback
  end
  if c.reason ~= nil and c.reason ~= "" then
    return c.reason .. ": " .. text
  end
  return text
end

local function result(status, message)
  hs.status = status
  hs.message = message
  return hs
end

local metadata = obj.metadata or {}
local status = obj.status

if metadata.deletionTimestamp ~= nil then
  return result("Progressing", "the grant is being removed")
end

if status == nil then
  return result("Progressing", "Waiting for the operator to report the request's status")
end

local generation = metadata.generation
if generation ~= nil and status.observedGeneration ~= generation then
  return result("Progressing", "Waiting for the operator to observe generation "
    .. tostring(generation) .. " (status describes generation "
    .. tostring(status.observedGeneration or "none") .. ")")
end

local ready = condition(status, "Ready")
local phase = status.phase
if phase == "Granted" then
  return result("Healthy", describe(ready, "read access is in place"))
elseif phase == "Approved" then
  return result("Progressing", describe(ready, "approved; the grant is being put in place"))
elseif phase == "Pending" then
  if ready ~= nil and ready.reason == "AwaitingApproval" then
    return result("Suspended", describe(ready, "waiting for the producer's approval"))
  end
  return result("Progressing", describe(ready, "the request is being evaluated"))
elseif phase == "Denied" then
  return result("Degraded", describe(ready, "the request was denied"))
elseif phase == "Revoked" then
  return result("Degraded", describe(ready, "the producer no longer approves this consumer"))
elseif phase == "Expired" then
  return result("Degraded", describe(ready,
    "the access expired; renew spec.expires or remove the request"))
end

if ready ~= nil and ready.status == "True" then
  return result("Healthy", describe(ready, "read access is in place"))
end
return result("Progressing", describe(ready, "Waiting for the operator to evaluate the request"))
