// The household's status page: one self-contained HTML document (inline CSS and JS under a
// per-response CSP nonce, no external assets) rendered with the current values, which then
// refreshes itself from /status.json. Server-side values are HTML-escaped; the script writes
// only textContent, never HTML.
import type { NodeStatus } from './node-status.ts';

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function formatUptime(ms: number): string {
  let s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  return (d > 0 ? `${d} d ` : '') + (d > 0 || h > 0 ? `${h} h ` : '') + `${m} min ${s} s`;
}

function brokerText(b: NodeStatus['broker']): string {
  const base = b.connected ? `connected${b.user ? ` as ${b.user}` : ''}` : `not connected (${b.state})`;
  return base + (!b.connected && b.failure ? `: ${b.failure}` : '') + (!b.connected && b.refusal ? `; the broker refused ${b.refused} time(s): ${b.refusal}` : '')
    + (b.publishRefusal ? `; the broker refused ${b.publishRefused} message(s), last: ${b.publishRefusal}` : '');
}

/** Text of each field, by element id. The page script (FIELDS_JS) computes the same from JSON. */
export function fieldsOf(s: NodeStatus): Record<string, string> {
  return {
    node: s.nodeId,
    board: s.board ?? '-',
    'status-light': s.statusLight ?? 'none on this board',
    activation: s.activation.state + (s.activation.reason ? ` (${s.activation.reason})` : ''),
    tpm: s.tpm === null ? 'not found' : `${s.tpm.vendor} (${s.tpm.manufacturer}), firmware ${s.tpm.firmwareVersion}`,
    broker: brokerText(s.broker),
    'seals-made': String(s.seals.made),
    'seals-accepted': String(s.seals.published),
    height: s.chain === undefined ? '-' : String(s.chain.height),
    uptime: formatUptime(s.uptimeMs),
    faults: (s.faults ?? []).length === 0 ? 'none' : (s.faults ?? []).map((x) => x.message).join(' | '),
  };
}

// Mirrors fieldsOf and formatUptime above; kept as plain ES2017 so any household browser runs it.
const SCRIPT = `
(function () {
  var REFRESH_MS = __REFRESH__;
  function uptime(ms) {
    var s = Math.max(0, Math.floor(ms / 1000)), d = Math.floor(s / 86400); s -= d * 86400;
    var h = Math.floor(s / 3600); s -= h * 3600; var m = Math.floor(s / 60); s -= m * 60;
    return (d > 0 ? d + ' d ' : '') + (d > 0 || h > 0 ? h + ' h ' : '') + m + ' min ' + s + ' s';
  }
  function fields(s) {
    return {
      node: s.nodeId, board: s.board || '-', 'status-light': s.statusLight || 'none on this board',
      activation: s.activation.state + (s.activation.reason ? ' (' + s.activation.reason + ')' : ''),
      tpm: s.tpm === null ? 'not found' : s.tpm.vendor + ' (' + s.tpm.manufacturer + '), firmware ' + s.tpm.firmwareVersion,
      broker: (s.broker.connected ? 'connected' + (s.broker.user ? ' as ' + s.broker.user : '') : 'not connected (' + s.broker.state + ')')
        + (!s.broker.connected && s.broker.failure ? ': ' + s.broker.failure : '')
        + (!s.broker.connected && s.broker.refusal ? '; the broker refused ' + s.broker.refused + ' time(s): ' + s.broker.refusal : '')
        + (s.broker.publishRefusal ? '; the broker refused ' + s.broker.publishRefused + ' message(s), last: ' + s.broker.publishRefusal : ''),
      'seals-made': String(s.seals.made), 'seals-accepted': String(s.seals.published),
      height: s.chain === undefined ? '-' : String(s.chain.height), uptime: uptime(s.uptimeMs),
      faults: (s.faults || []).length === 0 ? 'none' : s.faults.map(function (x) { return x.message; }).join(' | ')
    };
  }
  function setOk(id, ok) { var e = document.getElementById(id); if (e) e.setAttribute('data-ok', ok ? 'yes' : 'no'); }
  function render(s) {
    var f = fields(s);
    for (var id in f) { var e = document.getElementById(id); if (e) e.textContent = f[id]; }
    setOk('activation', s.activation.state === 'active'); setOk('tpm', s.tpm !== null); setOk('broker', s.broker.connected);
    setOk('faults', (s.faults || []).length === 0);
    var list = document.getElementById('errors'); while (list.firstChild) list.removeChild(list.firstChild);
    var errs = s.lastErrors.slice(-10).reverse();
    if (errs.length === 0) { var li = document.createElement('li'); li.textContent = 'none'; list.appendChild(li); }
    errs.forEach(function (x) {
      var li = document.createElement('li'); li.textContent = new Date(x.at).toISOString() + ' ' + x.code + ': ' + x.message; list.appendChild(li);
    });
    document.getElementById('refreshed').textContent = 'updated ' + new Date().toLocaleTimeString();
    document.getElementById('conn').textContent = '';
  }
  function refresh() {
    fetch('/status.json', { cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status); return r.json();
    }).then(render).catch(function (e) {
      document.getElementById('conn').textContent = 'cannot reach the node: ' + e.message;
    }).then(function () { setTimeout(refresh, REFRESH_MS); });
  }
  setTimeout(refresh, REFRESH_MS);
})();
`;

const CSS = `
body{font:15px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2430}
main{max-width:720px;margin:24px auto;padding:0 16px}
h1{font-size:20px;margin:0 0 12px}
table{width:100%;border-collapse:collapse;background:#fff;border-radius:8px;overflow:hidden;box-shadow:0 1px 3px #0002}
th,td{text-align:left;padding:8px 12px;border-bottom:1px solid #e6e8eb}th{width:38%;font-weight:600;color:#4a5565}
td[data-ok=yes]{color:#137333}td[data-ok=no]{color:#b3261e;font-weight:600}
h2{font-size:16px;margin:20px 0 8px}ul{background:#fff;border-radius:8px;padding:8px 12px 8px 28px;margin:0;box-shadow:0 1px 3px #0002;word-break:break-word}
#conn{color:#b3261e}footer{color:#6b7380;font-size:13px;margin-top:12px}
`;

export function renderPage(s: NodeStatus, options: { readonly nonce: string; readonly refreshMs: number }): string {
  const f = fieldsOf(s);
  const ok = (b: boolean): string => (b ? 'yes' : 'no');
  const row = (id: string, label: string, good?: boolean): string =>
    `<tr><th>${escapeHtml(label)}</th><td id="${id}"${good === undefined ? '' : ` data-ok="${ok(good)}"`}>${escapeHtml(f[id] ?? '')}</td></tr>`;
  const errors = s.lastErrors.slice(-10).reverse();
  const items = errors.length === 0 ? '<li>none</li>' : errors.map((e) => `<li>${escapeHtml(`${new Date(e.at).toISOString()} ${e.code}: ${e.message}`)}</li>`).join('');
  const nonce = escapeHtml(options.nonce);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>btn-node ${escapeHtml(s.nodeId)}</title><style nonce="${nonce}">${CSS}</style></head>
<body><main>
<h1>btn-node <span id="node">${escapeHtml(f['node']!)}</span></h1>
<table>
${row('faults', 'Problems now', (s.faults ?? []).length === 0)}
${row('activation', 'Activation', s.activation.state === 'active')}
${row('tpm', 'TPM', s.tpm !== null)}
${row('broker', 'Broker', s.broker.connected)}
${row('seals-made', 'Seals made')}
${row('seals-accepted', 'Seals sent (the broker took them)')}
${row('height', 'Chain height')}
${row('uptime', 'Uptime')}
${row('board', 'Board')}
${row('status-light', 'Status light')}
</table>
<h2>Last errors</h2><ul id="errors">${items}</ul>
<footer><span id="refreshed">rendered ${escapeHtml(new Date().toISOString())}</span> <span id="conn"></span></footer>
</main><script nonce="${nonce}">${SCRIPT.replace('__REFRESH__', String(Math.floor(options.refreshMs)))}</script></body></html>
`;
}
