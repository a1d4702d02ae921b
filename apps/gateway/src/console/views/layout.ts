import { html, type SafeHtml } from '../html.js'

/** The console's stylesheet, served from /console/assets/console.css (no inline styles: a strict CSP). */
export const CONSOLE_CSS = `
:root{--fg:#111;--muted:#4a4a4a;--bg:#fff;--panel:#f4f5f7;--line:#c9ccd1;--accent:#0b57d0;--ok:#0a6b2d;--bad:#a50e0e;--warn:#7a4b00}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
a{color:var(--accent)}
a:focus-visible,button:focus-visible,input:focus-visible,textarea:focus-visible,select:focus-visible{outline:3px solid #f9ab00;outline-offset:2px}
header{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem;padding:.6rem 1rem;background:#1f2937;color:#fff}
header nav{display:flex;flex-wrap:wrap;gap:.25rem}
header a{color:#fff;text-decoration:none;padding:.25rem .4rem;border-radius:4px}
header a[aria-current=page]{background:#374151;text-decoration:underline}
header .brand{font-weight:700;margin-right:auto}
header form{margin:0}
main{max-width:1100px;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
h2{font-size:1.15rem;margin:1.5rem 0 .5rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:.75rem}
.card{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:.75rem 1rem;overflow-wrap:anywhere}
h1,td,th,.turn{overflow-wrap:anywhere}
.card h2{margin-top:0;font-size:1rem}
.muted{color:var(--muted)}
.ok{color:var(--ok);font-weight:600}.bad{color:var(--bad);font-weight:600}.warn{color:var(--warn);font-weight:600}
.table-wrap{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.95rem}
th,td{text-align:left;vertical-align:top;padding:.4rem .5rem;border-bottom:1px solid var(--line)}
th{background:var(--panel)}
td.text{white-space:pre-wrap;min-width:12rem}
th.item{min-width:7rem;overflow-wrap:normal;word-break:break-word}td.num{white-space:nowrap}
label{display:block;font-weight:600;margin:.5rem 0 .25rem}
input[type=text],input[type=password],input[type=search],textarea{width:100%;max-width:32rem;padding:.5rem;font:inherit;border:1px solid #767676;border-radius:4px}
textarea{min-height:4rem}
button{font:inherit;padding:.45rem .9rem;border-radius:4px;border:1px solid #1f2937;background:#1f2937;color:#fff;cursor:pointer;min-height:2.5rem}
button.secondary{background:#fff;color:#1f2937}
button.danger{background:var(--bad);border-color:var(--bad)}
button:disabled{background:#d1d5db;border-color:#9ca3af;color:#374151;cursor:not-allowed}
.actions{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
.actions form{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:.75rem;flex:1 1 18rem}
.note{font-size:.85rem;color:var(--muted);margin:.25rem 0 0}
.alert{padding:.6rem .8rem;border-radius:6px;border:1px solid var(--line);margin:.75rem 0}
.alert.error{border-color:var(--bad);background:#fdecea;color:#5f0a0a}
.alert.info{border-color:var(--ok);background:#e7f5ec;color:#0b3d1c}
.turn{border-left:4px solid var(--line);padding:.4rem .75rem;margin:.5rem 0;background:var(--panel);border-radius:0 6px 6px 0}
.turn.user{border-color:#6b7280}.turn.bot{border-color:var(--accent)}.turn.human{border-color:var(--ok)}
.turn .meta{font-size:.8rem;color:var(--muted)}
.turn p{margin:.25rem 0;white-space:pre-wrap}
.chart svg{max-width:100%;height:auto}
.legend{display:flex;flex-wrap:wrap;gap:.75rem;font-size:.85rem;list-style:none;padding:0}
.swatch{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle;border:1px solid #0003}
.filters a{margin-right:.75rem}
.login{max-width:26rem;margin:3rem auto}
@media (max-width:600px){main{padding:.6rem}th,td{padding:.3rem}h1{font-size:1.25rem}}
`

const NAV = [
  ['/console', 'Overview'],
  ['/console/candidates', 'Candidates'],
  ['/console/conversations', 'Conversations'],
  ['/console/data', 'Data'],
  ['/console/promotions', 'Promotions'],
  ['/console/costs', 'Costs'],
] as const

export interface PageArgs {
  title: string
  /** Path of the nav entry to mark current. */
  current?: string
  /** The session's CSRF token (for the logout form); absent on the login page. */
  csrf?: string
  body: SafeHtml
}

export function page(args: PageArgs): string {
  const nav = args.csrf
    ? html`<nav aria-label="Console">${NAV.map(
        ([href, label]) =>
          html`<a href="${href}"${args.current === href ? html` aria-current="page"` : ''}>${label}</a>`,
      )}</nav>
      <form method="post" action="/console/logout">
        <input type="hidden" name="csrf" value="${args.csrf}">
        <button type="submit" class="secondary" data-testid="logout">Log out</button>
      </form>`
    : ''
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${args.title} · Loop DM console</title>
<link rel="stylesheet" href="/console/assets/console.css">
</head>
<body>
<header><span class="brand">Loop DM console</span>${nav}</header>
<main id="main">
<h1>${args.title}</h1>
${args.body}
</main>
</body>
</html>`.value
}

/** A hidden CSRF field for every state-changing form. */
export const csrfField = (csrf: string) => html`<input type="hidden" name="csrf" value="${csrf}">`

export const alertBox = (kind: 'error' | 'info', text: string | undefined, testid?: string) =>
  text
    ? html`<div class="alert ${kind}" role="${kind === 'error' ? 'alert' : 'status'}"${
        testid ? html` data-testid="${testid}"` : ''
      }>${text}</div>`
    : html``

/** A disabled button with the reason a feature is not available yet. */
export const unavailable = (label: string, testid: string, when: string) =>
  html`<button type="button" disabled data-testid="${testid}" aria-describedby="${testid}-note">${label}</button>
  <p class="note" id="${testid}-note">available when ${when}</p>`
