// Helpers shared by the collection's scripts (safe mode: crypto-js and bru only).
const CryptoJS = require('crypto-js');

// The HKDF "info" tenantmail derives webhook passwords with (adapters/webhook_secrets.py).
const WEBHOOK_INFO = 'tenantmail/webhook-basic-auth/v1';

// An environment value, or '' when it is empty or names a process variable that is not set.
function setting(bru, name) {
  const value = bru.getEnvVar(name);
  if (value === undefined || value === null) return '';
  const text = String(value).trim();
  return text.includes('{{') ? '' : text;
}

// Names that make a run independent of earlier ones: a new tenant (unless the environment names
// one), a new sending-domain slug, new recipients. startRun (the first request) always makes new
// ones; setUpRun (every request) only when there are none yet, so any request can run alone.
function setUpRun(bru) {
  if (!bru.getVar('runId')) startRun(bru);
}

function startRun(bru) {
  const runId = Date.now().toString(36) + Math.random().toString(36).slice(2, 6);
  const tenant = setting(bru, 'tenantId') || `bruno-${runId}`;
  bru.setVar('runId', runId);
  bru.setVar('tenant', tenant);
  bru.setVar('otherTenant', `${tenant}-other`);
  bru.setVar('slug', `acme-${runId}`);
  bru.setVar('recipient', `buyer-${runId}@vendor.example`);
  bru.setVar('bouncingRecipient', `bounce-${runId}@vendor.example`);
  bru.setVar('blockedRecipient', `blocked-${runId}@vendor.example`);
}

// HKDF-SHA256 (RFC 5869, no salt, 32 bytes) of the registry secret, then HMAC-SHA256 of the
// configuration eId, base64url without padding: the password tenantmail installs on Postmark.
function webhookPassword(material, configurationEId) {
  const zeros = CryptoJS.lib.WordArray.create([0, 0, 0, 0, 0, 0, 0, 0], 32);
  const prk = CryptoJS.HmacSHA256(CryptoJS.enc.Utf8.parse(material), zeros);
  const key = CryptoJS.HmacSHA256(CryptoJS.enc.Utf8.parse(WEBHOOK_INFO).concat(CryptoJS.enc.Hex.parse('01')), prk);
  const mac = CryptoJS.HmacSHA256(CryptoJS.enc.Utf8.parse(configurationEId), key);
  return CryptoJS.enc.Base64.stringify(mac).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// Poll GET {prefix}{path} (as the run's tenant) until done(body) is true; throws after
// waitTimeoutMs, or at once when failed(body) says it will never be done.
async function waitFor(bru, path, done, failed) {
  const timeoutMs = Number(setting(bru, 'waitTimeoutMs') || 30000);
  const url = bru.interpolate(`{{host}}{{prefix}}${path}`);
  const headers = {
    Authorization: `Bearer ${setting(bru, 'apiKey')}`,
    'X-Tenant-Id': bru.getVar('tenant'),
    Accept: 'application/json',
  };
  const deadline = Date.now() + timeoutMs;
  let last = null;
  for (let pause = 100; ; pause = Math.min(pause * 2, 2000)) {
    let response;
    try {
      response = await bru.sendRequest({ method: 'GET', url, headers });
    } catch (error) {  // any answer but 2xx
      const answer = error.response || {};
      throw new Error(`GET ${path} answered ${answer.status}: ${JSON.stringify(answer.data)}`);
    }
    last = response.data;
    if (done(last)) return last;
    if ((failed && failed(last)) || Date.now() + pause > deadline) break;
    await bru.sleep(pause);
  }
  throw new Error(`gave up waiting on GET ${path}; last answer: ${JSON.stringify(last)}`);
}

module.exports = { setting, setUpRun, startRun, webhookPassword, waitFor };
