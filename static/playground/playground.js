// The playground page: the live set (read-only) beside an edited copy, one request decided by
// both, the copy's problems at their line, and `policy diff` and `policy check` (the copy's
// invariants) on buttons. Plain DOM, no build.
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

/** A block of lines as the CLI prints them, one element each; long lines wrap (CSS). */
function linesBlock(tag, lines, className) {
  const block = el(tag, undefined, className);
  for (const line of lines) {
    const example = /^\s*(example:|e\.g\.)/.test(line);
    block.append(el('div', line, example ? 'line example' : 'line'));
  }
  return block;
}

/** The diff as `policy diff` tells it: the head, the schema first, each class with its example. */
function renderDiff(out, view) {
  const parts = [el('p', view.head, 'head')];
  if (view.schema.length > 0) {
    const schema = el('section', undefined, 'schema');
    schema.append(el('h3', 'the schemas differ:'));
    for (const lines of view.schema) schema.append(linesBlock('div', lines, 'difference'));
    parts.push(schema);
  }
  parts.push(el('p', view.changed, 'changed'));
  for (const lines of view.classes) parts.push(linesBlock('div', lines, 'class'));
  if (view.notes.length > 0) {
    const notes = el('section', undefined, 'notes');
    notes.append(el('h3', 'notes:'));
    notes.append(
      linesBlock(
        'div',
        view.notes.map((n) => `- ${n}`),
        'note',
      ),
    );
    parts.push(notes);
  }
  out.replaceChildren(...parts);
}

function renderProblems(out, problems) {
  out.replaceChildren(
    ...problems.map((p) => el('p', `${p.file}:${p.line}:${p.column}: ${p.message}`, 'error')),
  );
}

/** Runs one of the long jobs (diff, check): one at a time, its button disabled meanwhile. */
async function runJob(name, body, render) {
  const out = $(`${name}-out`);
  out.dataset.state = 'running';
  out.replaceChildren(el('p', 'running…'));
  for (const b of ['diff-run', 'check-run']) $(b).disabled = true;
  try {
    const answer = await api(name, body);
    if (answer.ok) render(out, answer);
    else renderProblems(out, answer.problems);
  } catch (err) {
    out.replaceChildren(el('p', String(err), 'error'));
  } finally {
    out.dataset.state = 'done';
    for (const b of ['diff-run', 'check-run']) $(b).disabled = false;
  }
}

const runDiff = () =>
  runJob('diff', { policies: editedSources() }, (out, answer) => renderDiff(out, answer.view));

/** Which invariants hold; under each broken one, its counterexample as `policy check` prints it. */
function renderCheck(out, answer) {
  const r = answer.report;
  const broken = r.invariants.filter((i) => !i.holds).length;
  const list = el('ul', undefined, 'invariants');
  for (const inv of r.invariants) {
    const li = el('li', undefined, inv.holds ? 'holds' : 'broken');
    li.dataset.id = inv.id;
    li.append(el('div', `${inv.holds ? 'ok' : 'FAIL'}  ${inv.id}`, 'line'));
    const shown = answer.counterexamples[inv.id];
    if (shown !== undefined) li.append(linesBlock('div', shown, 'counterexample'));
    list.append(li);
  }
  out.replaceChildren(
    el(
      'p',
      `${r.invariants.length - broken} of ${r.invariants.length} invariants hold (${r.users} users, roles ${r.roles.join(', ')})`,
      'head',
    ),
    list,
    el(
      'p',
      `explored ${r.states} states from ${r.starts} start states (${r.requests} allowed requests, ${r.decided} distinct decisions) in ${(r.ms / 1000).toFixed(2)} s`,
      'note',
    ),
  );
}

const runCheck = () =>
  runJob(
    'check',
    {
      policies: editedSources(),
      // Empty: the invariants beside the live set (the server says when there are none).
      invariants: $('invariants-text').value === '' ? undefined : $('invariants-text').value,
      users: Number($('check-users').value),
    },
    renderCheck,
  );

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
  $('invariants-text').value = state.live.invariants?.text ?? '';
  $('check-run').addEventListener('click', () => void runCheck());
  await validate();
  document.body.dataset.ready = 'true';
}

void start();
