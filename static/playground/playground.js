// The playground page: the live set (read-only) beside an edited copy, one request decided by
// both, the copy's problems at their line, and `policy diff` on a button. Plain DOM, no build.
const $ = (id) => document.getElementById(id);
const SCHEMA = 'schema.cedarschema';

const state = { live: null, edited: null, problems: [] };

async function api(path, body) {
  const res = await fetch(`/playground/api/${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await res.json();
  if (!res.ok) throw new Error(`${answer.code}: ${answer.message}`);
  return answer;
}

/** The files of a set, the schema first, as [name, text]. */
function filesOf(set) {
  return [[SCHEMA, set.schema], ...set.files.map((f) => [f.file, f.text])];
}

function textOf(set, name) {
  if (name === SCHEMA) return set.schema;
  return set.files.find((f) => f.file === name)?.text ?? '';
}

function setText(set, name, text) {
  if (name === SCHEMA) set.schema = text;
  else set.files.find((f) => f.file === name).text = text;
}

function fillSelect(select, set) {
  select.replaceChildren(
    ...filesOf(set).map(([name]) =>
      Object.assign(document.createElement('option'), { value: name, textContent: name }),
    ),
  );
}

/** Line numbers, the lines with a problem in `file` marked. */
function renderGutter(gutter, text, file) {
  const bad = new Set(state.problems.filter((p) => p.file === file).map((p) => p.line));
  const lines = text.split('\n').length;
  gutter.replaceChildren(
    ...Array.from({ length: lines }, (_, i) => {
      const span = document.createElement('span');
      span.textContent = `${i + 1}\n`;
      if (bad.has(i + 1)) {
        span.className = 'bad';
        span.title = state.problems.find((p) => p.file === file && p.line === i + 1).message;
      }
      return span;
    }),
  );
}

function showFile(side) {
  const set = side === 'live' ? state.live : state.edited;
  const name = $(`${side}-file`).value;
  const area = $(`${side}-text`);
  area.value = textOf(set, name);
  renderGutter($(`${side}-gutter`), area.value, name);
}

function syncScroll(side) {
  $(`${side}-text`).addEventListener('scroll', () => {
    $(`${side}-gutter`).scrollTop = $(`${side}-text`).scrollTop;
  });
}

function editedSources() {
  return { schema: state.edited.schema, files: state.edited.files };
}

let validateTimer;
async function validate() {
  const answer = await api('validate', { policies: editedSources() });
  state.problems = answer.problems;
  const list = $('problems');
  if (answer.problems.length === 0) {
    list.replaceChildren(el('li', 'valid', 'ok'));
  } else {
    // Warnings (ok: true) do not refuse the set; errors do.
    const kind = answer.ok ? 'warn' : 'bad';
    list.replaceChildren(
      ...answer.problems.map((p) => {
        const li = el(
          'li',
          `${answer.ok ? 'warning: ' : ''}${p.file}:${p.line}:${p.column}: ${p.message}`,
          kind,
        );
        li.dataset.file = p.file;
        li.dataset.line = String(p.line);
        return li;
      }),
    );
  }
  list.dataset.state = 'done';
  renderGutter($('edited-gutter'), $('edited-text').value, $('edited-file').value);
}

function rolesOf(id) {
  return $(id)
    .value.split(/[\s,]+/)
    .filter((r) => r !== '');
}

function requestOf() {
  const body = { name_changes: $('body-name').checked, avatar_changes: $('body-avatar').checked };
  if ($('body-has-roles').checked) body.roles = rolesOf('body-roles');
  return {
    action: $('action').value,
    principal: { roles: rolesOf('principal-roles'), owner: $('principal-owner').checked },
    target: {
      roles: rolesOf('target-roles'),
      owner: $('target-owner').checked,
      same_user: $('target-self').checked,
      other_tenant: $('target-other-tenant').checked,
    },
    body,
  };
}

function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className !== undefined) e.className = className;
  return e;
}

function renderAnswer(side, answer) {
  const out = $(`answer-${side}`).querySelector('.out');
  if (!answer.ok) {
    out.replaceChildren(
      el('p', 'not decided: the set does not validate', 'decision deny'),
      ...answer.problems.map((p) =>
        el('p', `${p.file}:${p.line}:${p.column}: ${p.message}`, 'error'),
      ),
    );
    return;
  }
  const e = answer.explanation;
  const parts = [el('p', e.decision.toUpperCase(), `decision ${e.decision}`)];
  if (e.policies.length === 0)
    parts.push(
      el('p', e.decision === 'deny' ? 'no policy permits this request (default deny)' : '-'),
    );
  const list = el('ul');
  for (const p of e.policies) {
    list.append(el('li', `${p.effect} ${p.id} — ${p.location ?? 'location unknown'}`, 'policy'));
  }
  parts.push(list);
  // A default deny: the permits whose scope matched, each with the condition that stopped it.
  if (e.unmet !== undefined && e.unmet.length > 0) {
    parts.push(el('p', 'permits whose scope matched, and the condition that was false:'));
    const unmet = el('ul');
    for (const p of e.unmet) {
      const c = p.condition;
      const why = c === null ? 'every condition held' : `${c.kind} ${c.location} ${c.outcome}`;
      unmet.append(el('li', `permit ${p.id} — ${p.location}: ${why}`, 'policy'));
    }
    parts.push(unmet);
  }
  for (const n of e.notices) parts.push(el('p', `notice: ${n}`, 'notice'));
  for (const err of e.errors) parts.push(el('p', `error: ${err}`, 'error'));
  parts.push(el('p', `context: ${JSON.stringify(e.request.context)}`, 'context'));
  out.replaceChildren(...parts);
}

async function decide(event) {
  event.preventDefault();
  try {
    const answer = await api('decide', { policies: editedSources(), request: requestOf() });
    renderAnswer('live', answer.live);
    renderAnswer('edited', answer.edited);
  } catch (err) {
    $('answer-edited')
      .querySelector('.out')
      .replaceChildren(el('p', String(err), 'error'));
  }
}

async function runDiff() {
  const out = $('diff-out');
  out.textContent = 'running…';
  $('diff-run').disabled = true;
  try {
    const answer = await api('diff', {
      policies: editedSources(),
      max_requests: Number($('diff-max').value),
    });
    if (!answer.ok) {
      out.textContent = answer.problems
        .map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`)
        .join('\n');
      return;
    }
    const r = answer.report;
    const lines = [`${r.changed} of ${r.requests} requests change (${r.classes.length} classes)`];
    for (const c of r.classes) lines.push(`${c.action}: ${c.summary} (${c.count})`);
    for (const n of r.notes) lines.push(`note: ${n}`);
    out.textContent = lines.join('\n');
  } catch (err) {
    out.textContent = String(err);
  } finally {
    $('diff-run').disabled = false;
  }
}

async function start() {
  state.live = await api('live');
  state.edited = structuredClone({ schema: state.live.schema, files: state.live.files });
  const at = state.live.listening;
  $('listening').textContent =
    at === undefined
      ? ''
      : `Served by the admin port on ${at.address.includes(':') ? `[${at.address}]` : at.address}:${at.port}` +
        (at.loopback
          ? ' (loopback: only this machine reaches it).'
          : ' — not loopback: anyone who reaches this address reads every policy. Turn PLAYGROUND off here.');
  $('live-status').textContent =
    `live set ${state.live.version}` +
    (state.live.in_force
      ? ''
      : ' — the files on disk differ from the set in force (refused or not yet reloaded)');
  for (const side of ['live', 'edited']) {
    fillSelect($(`${side}-file`), side === 'live' ? state.live : state.edited);
    $(`${side}-file`).addEventListener('change', () => showFile(side));
    syncScroll(side);
    showFile(side);
  }
  $('edited-text').addEventListener('input', () => {
    setText(state.edited, $('edited-file').value, $('edited-text').value);
    renderGutter($('edited-gutter'), $('edited-text').value, $('edited-file').value);
    $('problems').dataset.state = 'pending';
    clearTimeout(validateTimer);
    validateTimer = setTimeout(() => void validate(), 250);
  });
  $('reset').addEventListener('click', () => {
    state.edited = structuredClone({ schema: state.live.schema, files: state.live.files });
    showFile('edited');
    void validate();
  });
  $('request-form').addEventListener('submit', (e) => void decide(e));
  $('diff-run').addEventListener('click', () => void runDiff());
  await validate();
  document.body.dataset.ready = 'true';
}

void start();
