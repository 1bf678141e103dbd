// The household's status page: one self-contained HTML document (inline CSS and JS under a
// per-response CSP nonce, no external assets) rendered with the current values, which then
// refreshes itself from /status.json and /headline.json. The headline comes first, then the
// history's charts (inline SVG, charts.ts) and the recent blocks, then the details.
// Server-side values are HTML-escaped; the script writes only textContent, never HTML.
import type { BlockRecord } from './block-log.ts';
import { historyCharts } from './charts.ts';
import type { Headline } from './headline.ts';
import type { HistoryData } from './history.ts';
import { escapeHtml } from './html.ts';
import type { NodeStatus } from './node-status.ts';

export { escapeHtml };

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

/** The software line: "0.3.0 (slot B); other slot A: 0.2.0; last update: updated to 0.3.0". The page script mirrors it. */
export function softwareText(sw: NodeStatus['software']): string {
  if (sw === undefined) return '-';
  const other = sw.other === null ? '' : `; other slot${sw.other.slot ? ` ${sw.other.slot}` : ''}: ${sw.other.version ?? 'unknown'}`;
  return `${sw.version ?? 'unknown'}${sw.slot ? ` (slot ${sw.slot})` : ''}${other}; last update: ${sw.lastUpdate === null ? 'none' : sw.lastUpdate.text}`;
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
    software: softwareText(s.software),
    notices: noticesText(s.notices),
  };
}

/** The last notices, newest first: "12:04 problem: ... | 11:50 back to normal: ...". The page script mirrors it. */
export function noticesText(n: NodeStatus['notices']): string {
  if (n === undefined || n.length === 0) return 'none';
  return n.slice(-3).reverse().map((x) => `${new Date(x.at).toISOString().slice(11, 16)} UTC ${x.kind === 'problem' ? 'problem: ' : ''}${x.text}`).join(' | ');
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
  function software(w) {
    if (!w) return '-';
    var other = w.other === null ? '' : '; other slot' + (w.other.slot ? ' ' + w.other.slot : '') + ': ' + (w.other.version || 'unknown');
    return (w.version || 'unknown') + (w.slot ? ' (slot ' + w.slot + ')' : '') + other + '; last update: ' + (w.lastUpdate === null ? 'none' : w.lastUpdate.text);
  }
  function notices(n) {
    if (!n || n.length === 0) return 'none';
    return n.slice(-3).reverse().map(function (x) { return new Date(x.at).toISOString().slice(11, 16) + ' UTC ' + (x.kind === 'problem' ? 'problem: ' : '') + x.text; }).join(' | ');
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
      faults: (s.faults || []).length === 0 ? 'none' : s.faults.map(function (x) { return x.message; }).join(' | '),
      software: software(s.software), notices: notices(s.notices)
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
  function headline(h) {
    document.getElementById('headline').setAttribute('data-state', h.state);
    document.getElementById('headline-title').textContent = h.title;
    document.getElementById('headline-detail').textContent = h.detail;
    var a = document.getElementById('headline-action'); a.textContent = h.action ? 'What to do: ' + h.action : '';
  }
  function get(path) {
    return fetch(path, { cache: 'no-store' }).then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); });
  }
  function refresh() {
    get('/status.json').then(render).then(function () { return get('/headline.json'); }).then(headline).catch(function (e) {
      document.getElementById('conn').textContent = 'cannot reach the node: ' + e.message;
    }).then(function () { setTimeout(refresh, REFRESH_MS); });
  }
  setTimeout(refresh, REFRESH_MS);
  // the charts and the recent blocks change by the hour: the whole page is drawn again now and then
  setTimeout(function () { location.reload(); }, 300000);
})();
`;

// Light by default, dark when the browser asks for it; one column on a phone, two on a desk.
const CSS = `
:root{--bg:#f4f5f7;--card:#fff;--fg:#1d2430;--muted:#6b7380;--line:#e6e8eb;--ok:#137333;--bad:#b3261e;--wait:#8a5a00;--s1:#3b6fd8;--s2:#e0851b;--shadow:0 1px 3px #0002}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--card:#1b2027;--fg:#e6e9ee;--muted:#9aa3ae;--line:#2c333c;--ok:#6fcf8a;--bad:#ff8a80;--wait:#f0c05a;--s1:#7aa5ff;--s2:#ffb45e;--shadow:0 1px 3px #0008}}
body{font:15px/1.4 system-ui,sans-serif;margin:0;background:var(--bg);color:var(--fg)}
main{max-width:980px;margin:16px auto;padding:0 12px}
h1{font-size:18px;margin:0 0 10px;color:var(--muted);font-weight:600}
#headline{background:var(--card);border-radius:10px;padding:14px 16px;box-shadow:var(--shadow);border-left:6px solid var(--muted)}
#headline[data-state=working]{border-color:var(--ok)}#headline[data-state=waiting]{border-color:var(--wait)}#headline[data-state=needs-you]{border-color:var(--bad)}
#headline-title{font-size:22px;font-weight:650;margin:0 0 4px}#headline-detail{margin:0;color:var(--muted)}#headline-action{margin:6px 0 0;font-weight:600}#headline-action:empty{display:none}
.charts{display:grid;grid-template-columns:1fr;gap:10px}@media (min-width:700px){.charts{grid-template-columns:1fr 1fr}}
figure.chart{margin:0;background:var(--card);border-radius:8px;padding:8px 10px;box-shadow:var(--shadow)}
figcaption{font-size:13px;font-weight:600}.now{color:var(--muted);font-weight:400}
svg{width:100%;height:auto;display:block}svg text{font-size:9px;fill:var(--muted)}
.grid{stroke:var(--line)}path.s1{fill:var(--s1)}path.s2{fill:var(--s2)}path.line.s1{fill:none;stroke:var(--s1)}
.legend{margin:2px 0 0;font-size:12px;color:var(--muted)}.key.s1{color:var(--s1)}.key.s2{color:var(--s2)}
table{width:100%;border-collapse:collapse;background:var(--card);border-radius:8px;overflow:hidden;box-shadow:var(--shadow)}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:top}th{font-weight:600;color:var(--muted)}
#details th{width:38%}td[data-ok=yes]{color:var(--ok)}td[data-ok=no]{color:var(--bad);font-weight:600}
.blocks{overflow-x:auto}.blocks td,.blocks th{font-size:13px}.v-sealed{color:var(--ok);font-weight:600}.v-refused{color:var(--bad)}
h2{font-size:16px;margin:18px 0 8px}ul{background:var(--card);border-radius:8px;padding:8px 12px 8px 28px;margin:0;box-shadow:var(--shadow);word-break:break-word}
#conn{color:var(--bad)}footer{color:var(--muted);font-size:13px;margin:12px 0}
`;

/** What the page shows besides the status: the headline, the history and the recent blocks. */
export interface PageExtras {
  readonly headline: Headline;
  readonly history: HistoryData | null;
  /** The status's time (its updatedAt), ms since epoch: the charts end at this hour. */
  readonly now: number;
  /** What was wrong with the saved history when it was read (it started again). */
  readonly historyNotice?: string | null;
}

function blockRows(blocks: readonly BlockRecord[]): string {
  if (blocks.length === 0) return '<tr><td colspan="5">none yet</td></tr>';
  return blocks.slice().reverse().map((b) => {
    const verdict = b.verdict === 'sealed' ? 'sealed' : b.verdict === 'refused' ? 'refused' : 'not sealed';
    const ticket = b.bestZeros === null ? '-' : `${b.bestZeros} of ${b.zerosNeeded ?? '?'} bits`;
    const by = b.sealedBy === null ? '-' : `${b.sealedBy.nodeId}${b.sealedBy.round === null ? '' : `, round ${b.sealedBy.round}`}`;
    const height = b.height === null ? '?' : `#${b.height}`;
    return `<tr><td>${escapeHtml(height)}</td><td><span class="v-${b.verdict}">${verdict}</span>: ${escapeHtml(b.reason)}</td><td>${b.rounds}</td><td>${escapeHtml(ticket)}</td><td>${escapeHtml(by)}</td></tr>`;
  }).join('');
}

export function renderPage(s: NodeStatus, options: { readonly nonce: string; readonly refreshMs: number } & Partial<PageExtras>): string {
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
${headlineSection(options.headline)}
${options.history === undefined || options.history === null ? '' : historySections(options.history, options.now ?? s.updatedAt, options.historyNotice ?? null)}
<h2>Details</h2>
<table id="details">
${row('faults', 'Problems now', (s.faults ?? []).length === 0)}
${row('activation', 'Activation', s.activation.state === 'active')}
${row('tpm', 'TPM', s.tpm !== null)}
${row('broker', 'Broker', s.broker.connected)}
${row('seals-made', 'Seals made')}
${row('seals-accepted', 'Seals sent (the broker took them)')}
${row('height', 'Chain height')}
${row('uptime', 'Uptime')}
${row('software', 'Software')}
${row('notices', 'Notices')}
${row('board', 'Board')}
${row('status-light', 'Status light')}
</table>
<h2>Last errors</h2><ul id="errors">${items}</ul>
<footer><span id="refreshed">rendered ${escapeHtml(new Date().toISOString())}</span> <span id="conn"></span></footer>
</main><script nonce="${nonce}">${SCRIPT.replace('__REFRESH__', String(Math.floor(options.refreshMs)))}</script></body></html>
`;
}

function headlineSection(h: Headline | undefined): string {
  if (h === undefined) return '<section id="headline" data-state="waiting"><p id="headline-title">-</p><p id="headline-detail"></p><p id="headline-action"></p></section>';
  return `<section id="headline" data-state="${escapeHtml(h.state)}"><p id="headline-title">${escapeHtml(h.title)}</p>`
    + `<p id="headline-detail">${escapeHtml(h.detail)}</p><p id="headline-action">${h.action === '' ? '' : escapeHtml(`What to do: ${h.action}`)}</p></section>`;
}

function historySections(h: HistoryData, now: number, notice: string | null): string {
  return `<h2>History</h2>${notice === null ? '' : `<p id="history-notice">${escapeHtml(notice)}</p>`}<div class="charts">${historyCharts(h.hours, now)}</div>
<h2>Why didn't I seal? The last ${h.blocks.length} blocks</h2>
<div class="blocks"><table id="blocks"><thead><tr><th>Block</th><th>What happened</th><th>Rounds</th><th>Best ticket</th><th>Sealed by</th></tr></thead><tbody>${blockRows(h.blocks)}</tbody></table></div>`;
}
