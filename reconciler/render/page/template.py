# ruff: noqa: E501  (HTML lines are as long as their markup)
"""The status page's jinja2 template (autoescaped by :mod:`.html`; nothing in it is marked safe). Pure data.

Stable anchors for people and tests: one ``<section class="environment">`` per environment
whose ``<h2>`` names it; ``<h3>`` headings Conditions, Revisions, In progress, Hosts and stacks,
Last plan, History; ``<dl>`` labels (``<dt>``) such as Applied, Attempted, Failed revisions,
Phase, Fleet, Batch, Instances, Step. Classes carry the state (``result-failed``,
``status-in-sync``, ``sync-Degraded``) for the stylesheet only. The history's rows (up to 1,000) use
subscripts, jinja2's fast path for dicts.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{{ refresh }}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>reconciler{% for env in doc.environments %} · {{ env.name }} {{ env.sync }}{% endfor %}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1b1f24; }
h1 { font-size: 1.5em; margin: 0 0 .2em; } h2 { margin-top: 1.2em; border-bottom: 2px solid #d0d7de; }
h3 { margin: 1.2em 0 .4em; } h4 { margin: .8em 0 .3em; font-size: 1em; }
table { border-collapse: collapse; margin: .3em 0 .8em; } th, td { border: 1px solid #d0d7de; padding: 3px 8px;
  text-align: left; vertical-align: top; } th { background: #f6f8fa; }
dl { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; margin: .3em 0; } dt { font-weight: 600; }
dd { margin: 0; } code { font-size: .95em; } .muted { color: #57606a; }
.badge { font-size: .7em; padding: 1px 8px; border-radius: 10px; vertical-align: middle; color: #fff; background: #57606a; }
.sync-Synced { background: #1a7f37; } .sync-OutOfSync { background: #9a6700; } .sync-Degraded { background: #cf222e; }
.result-failed, .result-partial, .status-problem, .cond-bad { color: #cf222e; font-weight: 600; }
.result-applied, .status-in-sync { color: #1a7f37; } .status-change, .result-planned { color: #9a6700; }
.rollout { border-left: 4px solid #0969da; padding-left: .8em; }
</style>
</head>
<body>
<header>
<h1>Reconciler status</h1>
<dl class="loop">
<dt>Repository</dt><dd><code>{{ doc.loop.repository }}</code> branch <code>{{ doc.loop.branch }}</code>
 path <code>{{ doc.loop.path or "." }}</code></dd>
<dt>Mode</dt><dd>{{ doc.loop.mode }}, every {{ doc.loop.interval_seconds | seconds }}</dd>
<dt>Loop</dt><dd>{{ doc.loop.ticks }} tick(s){% if doc.loop.tick_running %}, one running now{% endif %};
 {{ "ready" if doc.loop.ready else "not ready" }}: {{ doc.loop.readiness }}</dd>
<dt>Generated</dt><dd>{{ doc.generated_at | when }} (this page reloads every {{ refresh }} s)</dd>
</dl>
</header>
<main>
{% for env in doc.environments %}
<section class="environment" id="environment-{{ loop.index }}">
<h2>Environment {{ env.name }} <span class="badge sync-{{ env.sync }}">{{ env.sync }}</span></h2>
{% if env.store_error %}<p class="cond-bad">The state store could not be read: {{ env.store_error }}</p>{% endif %}

<h3>Conditions</h3>
{% if env.conditions %}
<table class="conditions">
<thead><tr><th>Type</th><th>Status</th><th>Reason</th><th>Since</th><th>Message</th></tr></thead>
<tbody>
{% for c in env.conditions %}
<tr><td>{{ c.type }}</td><td>{{ c.status }}</td><td>{{ c.reason }}</td><td>{{ c.last_transition | when }}</td>
<td>{{ c.message }}</td></tr>
{% endfor %}
</tbody>
</table>
{% else %}<p class="muted">No tick has recorded a status yet.</p>{% endif %}

<h3>Revisions</h3>
<dl class="revisions">
{% for label, rev in (("Applied", env.last_applied), ("Attempted", env.last_attempted)) %}
<dt>{{ label }}</dt><dd>{% if rev %}{% if rev.url %}<a href="{{ rev.url }}"><code>{{ rev.short }}</code></a>{% else %}<code>{{ rev.short }}</code>{% endif %}
 {{ rev.subject }} <span class="muted">by {{ rev.author }}, {{ rev.committed_at | when }}</span>{% else %}-{% endif %}</dd>
{% endfor %}
<dt>Failed revisions</dt><dd class="failed-revisions">{% for sha in env.failed_revisions %}<code class="result-failed">{{ sha[:12] }}</code> {% else %}none{% endfor %}
{% if env.failed_revisions %}<span class="muted">(not retried until they or the world change)</span>{% endif %}</dd>
<dt>Last error</dt><dd>{{ env.last_error or "-" }}</dd>
<dt>Pinned</dt><dd>{{ env.pin[:12] if env.pin else "no (the branch head)" }}</dd>
<dt>Suspended</dt><dd>{{ "yes" if env.suspended else "no" }}</dd>
<dt>Lease</dt><dd>{{ env.lease_holder or "free" }}</dd>
</dl>

<h3>In progress</h3>
{% set p = env.progress %}
<dl class="progress">
<dt>Phase</dt><dd>{{ p.phase }}{% if p.since %} since {{ p.since | when }}{% endif %}{% if p.revision %} (<code>{{ p.revision[:12] }}</code>){% endif %}</dd>
{% if p.phase != "idle" %}
<dt>Units</dt><dd>{{ p.units_done }} done, {{ p.units_failed }} failed{% if p.running %}; running {{ p.running | join(", ") }}{% endif %}</dd>
<dt>Last action</dt><dd>{{ p.action or "-" }}</dd>
{% endif %}
</dl>
{% if p.rollout %}
<div class="rollout">
<h4>Rollout in progress</h4>
<dl class="rollout-steps">
<dt>Fleet</dt><dd>{{ p.rollout.fleet }}</dd>
<dt>Batch</dt><dd>{{ p.rollout.batch if p.rollout.batch else "none (" ~ p.rollout.phase ~ ")" }}{% if p.rollout.batches_done %}, {{ p.rollout.batches_done }} batch(es) done{% endif %}</dd>
<dt>Instances</dt><dd>{{ p.rollout.instances | join(", ") or "-" }}</dd>
<dt>Step</dt><dd>{{ p.rollout.step }} (since {{ p.rollout.step_started_at | when }})</dd>
<dt>Started</dt><dd>{{ p.rollout.started_at | when }}</dd>
{% if p.rollout.failed %}<dt>Failed</dt><dd class="result-failed">{{ p.rollout.failed }}</dd>{% endif %}
</dl>
</div>
{% endif %}

<h3>Hosts and stacks</h3>
{% if env.plan %}<p class="muted">As the last plan observed them ({{ env.plan.planned_at | when }}).</p>{% endif %}
{% for s in env.stacks %}
<h4>Stack {{ s.stack }} on host {{ s.host }} <span class="muted">(project {{ s.project }})</span>:
 <span class="{{ 'status-in-sync' if s.matches else 'status-problem' }}">{{ "matches" if s.matches else "differs" }}</span></h4>
{% for problem in s.problems %}<p class="status-problem">{{ problem }}</p>{% endfor %}
<table class="services">
<thead><tr><th>Service</th><th>Runs</th><th>Status</th><th>Why</th></tr></thead>
<tbody>
{% for v in s.services %}
<tr><td>{{ v.name }}</td>
<td>{% for c in v.containers %}{{ c.state }}{% if c.health %} ({{ c.health }}){% endif %} <code>{{ c.image }}</code>{% if not loop.last %}<br>{% endif %}{% else %}-{% endfor %}</td>
<td class="status-{{ v.status }}">{{ v.status }}</td><td>{{ v.detail }}</td></tr>
{% endfor %}
</tbody>
</table>
{% else %}<p class="muted">No plan yet.</p>{% endfor %}

<h3>Last plan</h3>
{% if env.plan %}
<dl class="plan">
<dt>Planned</dt><dd>{{ env.plan.planned_at | when }}{% if env.plan.revision %} at <code>{{ env.plan.revision[:12] }}</code>{% endif %}</dd>
<dt>Summary</dt><dd>{{ env.plan.summary }}</dd>
<dt>Unchanged</dt><dd>{{ env.plan.unchanged }} resource(s)</dd>
</dl>
{% if env.plan.problems %}
<ul class="problems">{% for pr in env.plan.problems %}<li class="status-problem"><code>{{ pr.address }}</code>: {{ pr.message }}</li>{% endfor %}</ul>
{% endif %}
{% if env.plan.actions %}
<table class="actions">
<thead><tr><th>Resource</th><th>Action</th><th>Why</th></tr></thead>
<tbody>
{% for a in env.plan.actions %}<tr><td><code>{{ a.address }}</code></td><td>{{ a.kind }}</td><td>{{ a.reason }}</td></tr>
{% endfor %}
</tbody>
</table>
{% if env.plan.action_count > env.plan.actions | length %}<p class="muted">and {{ env.plan.action_count - env.plan.actions | length }} more</p>{% endif %}
{% endif %}
{% else %}<p class="muted">No plan yet.</p>{% endif %}

<h3>History</h3>
{% if env.history %}
<table class="history">
<thead><tr><th>Finished</th><th>Revision</th><th>Trigger</th><th>Actor</th><th>Result</th><th>Took</th><th>Actions</th><th>Why</th><th>Error</th></tr></thead>
<tbody>
{% for e in env["history"] %}
{% set rev = e["revision"] %}
<tr class="result-{{ e["result"] }}"><td>{{ e["finished_at"] | when }}</td>
<td>{% if rev %}{% if rev["url"] %}<a href="{{ rev["url"] }}"><code>{{ rev["short"] }}</code></a>{% else %}<code>{{ rev["short"] }}</code>{% endif %} {{ rev["subject"] }}{% else %}-{% endif %}</td>
<td>{{ e["trigger"] }}</td><td>{{ e["actor"] }}</td><td>{{ e["result"] }}</td><td>{{ e["duration_seconds"] | seconds }}</td>
<td>{{ e["actions"] | counts }}</td>
<td>{{ e["reason"] }}</td><td>{{ e["error"] or "" }}</td></tr>
{% endfor %}
</tbody>
</table>
{% else %}<p class="muted">No history yet.</p>{% endif %}
</section>
{% else %}
<p class="muted">No revision has been loaded yet: the first tick has not read the environment's specs.</p>
{% endfor %}
</main>
</body>
</html>
"""
