-- Argo CD health of a dataproducts.io/DataProduct.
--
-- The operator writes status.phase (Pending, Provisioning, Ready, Degraded, Invalid, Deleting),
-- status.observedGeneration and Kubernetes-style conditions (Ready, Valid, NamespaceReady,
-- StorageReady, CatalogReady, PipelinesReady, AccessReady). A status that describes an older
-- generation than metadata.generation is stale: Progressing until the operator catches up.
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

-- "Reason: message" of a condition, or the fallback text.
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

local function healthy(status, ready)
  local message = describe(ready, "the product is provisioned")
  local aws = condition(status, "StorageReady")
  if aws ~= nil and aws.reason == "AwsNotConfigured" then
    message = message .. " (Kubernetes side only: the operator runs without AWS)"
  end
  return result("Healthy", message)
end

local metadata = obj.metadata or {}
local status = obj.status

if metadata.deletionTimestamp ~= nil or (status ~= nil and status.phase == "Deleting") then
  return result("Progressing", "Deleting: the operator is removing what it provisioned for the product")
end

if status == nil then
  return result("Progressing", "Waiting for the operator to report the product's status")
end

local generation = metadata.generation
if generation ~= nil and status.observedGeneration ~= generation then
  return result("Progressing", "Waiting for the operator to observe generation "
    .. tostring(generation) .. " (status describes generation "
    .. tostring(status.observedGeneration or "none") .. ")")
end

local ready = condition(status, "Ready")
if ready ~= nil and generation ~= nil and ready.observedGeneration ~= nil
    and ready.observedGeneration ~= generation then
  return result("Progressing", "Waiting for the operator to evaluate generation "
    .. tostring(generation))
end

-- kstatus conditions, honoured should the operator set them.
local stalled = condition(status, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  return result("Degraded", describe(stalled, "the operator cannot make progress"))
end
local reconciling = condition(status, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  return result("Progressing", describe(reconciling, "the operator is reconciling the product"))
end

local phase = status.phase
if phase == "Invalid" then
  return result("Degraded", describe(condition(status, "Valid") or ready,
    "the product breaks a governance rule; nothing is provisioned until the spec is fixed"))
elseif phase == "Degraded" then
  return result("Degraded", describe(ready, "part of the product could not be provisioned"))
elseif phase == "Pending" or phase == "Provisioning" then
  return result("Progressing", describe(ready, "the product is being provisioned"))
elseif phase == "Ready" and (ready == nil or ready.status == "True") then
  return healthy(status, ready)
end

-- No phase (or one this script does not know): the Ready condition decides.
if ready == nil then
  return result("Progressing", "Waiting for the Ready condition")
elseif ready.status == "True" then
  return healthy(status, ready)
elseif ready.status == "False" and ready.reason ~= "Provisioning" then
  return result("Degraded", describe(ready, "the product is not ready"))
end
return result("Progressing", describe(ready, "the product is being provisioned"))
