"""The HTML report's Jinja2 template, kept in code so ``render`` never opens a file."""

REPORT_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SLO report: {{ report.environment }}: {{ state|upper }}</title>
<style>
 body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
        max-width: 1100px; color: #1f2328; padding: 0 1em; }
 h1 { font-size: 1.6em; margin-bottom: .2em; }
 h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #d0d7de; }
 table { border-collapse: collapse; margin: .6em 0; width: 100%; }
 th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: right; }
 th:first-child, td:first-child, td.l { text-align: left; }
 th { background: #f6f8fa; }
 .state { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600; }
 .ok { background: #dafbe1; color: #116329; }
 .ticket { background: #fff8c5; color: #7d4e00; }
 .page, .exhausted, .FIRING, .failed, .error { background: #ffebe9; color: #a40e26; }
 .no_data, .skipped { background: #eaeef2; color: #57606a; }
 .meta { color: #57606a; }
 img { max-width: 100%; border: 1px solid #d0d7de; margin: .5em 0; }
 code { font-size: 12px; }
</style>
</head>
<body>
<h1>SLO report: {{ report.environment }}
<span class="state {{ state }}">{{ state|upper }}</span></h1>
<p class="meta">Generated {{ report.generated_at|human_time }} from {{ report.source }};
spec <code>{{ report.spec_origin }}</code>.</p>
<ul>
{% for s in overall %}<li><b>{{ s.slo.name }}</b>: {{ headline(s) }}</li>
{% endfor %}</ul>

<h2>Objectives</h2>
<table>
<tr><th>SLO</th><th>objective</th><th>window</th><th>SLI (95% interval)</th><th>events</th>
<th>budget left</th><th>exhaustion at 1h burn</th><th>state</th></tr>
{% for s in overall %}<tr><td>{{ s.slo.name }}</td><td>{{ objective(s) }}</td>
<td>{{ s.slo.period_seconds|duration }}</td><td>{{ sli_text(s) }}</td>
<td>{{ "{:,.0f}".format(s.counts.total) }}</td><td>{{ budget_text(s) }}</td>
<td>{{ s.time_to_exhaustion_seconds|span }}</td>
<td class="l"><span class="state {{ s.state.value }}">{{ s.state.value }}</span></td></tr>
{% endfor %}</table>

{% if images.burndown %}<h2>Error budget burn-down</h2>
<img alt="Remaining error budget over the window" src="data:image/png;base64,{{ images.burndown }}">
{% endif %}

{% for s in overall %}{% set png = images.get("sli-" ~ slug(s.slo.name)) %}{% if png %}
{% if loop.first %}<h2>SLI and error rate over time</h2>{% endif %}
<img alt="{{ s.slo.name }}: SLI and error rate over time" src="data:image/png;base64,{{ png }}">
{% endif %}{% endfor %}

<h2>Burn rates</h2>
<table>
<tr><th>SLO</th>{% for w in windows %}<th>{{ w|duration }}</th>{% endfor %}
<th>whole window</th></tr>
{% for s in overall %}<tr><td>{{ s.slo.name }}</td>
{% for w, r in s.burn_rates %}<td>{{ r|rate }}</td>{% endfor %}
<td>{{ s.period_burn_rate|rate }}</td></tr>
{% endfor %}</table>
{% if images["burn-rates"] %}<img alt="Burn rate per window"
 src="data:image/png;base64,{{ images["burn-rates"] }}">{% endif %}
{% for s in overall %}{% set png = images.get("burn-over-time-" ~ slug(s.slo.name)) %}
{% if png %}<img alt="{{ s.slo.name }}: burn rate over time per alert window"
 src="data:image/png;base64,{{ png }}">{% endif %}{% endfor %}

<h2>Multi-window alerts</h2>
<table>
<tr><th>SLO</th><th>severity</th><th>long / short</th><th>threshold</th><th>long burn</th>
<th>short burn</th><th>status</th></tr>
{% for s in overall %}{% for a in s.alerts %}<tr><td>{{ s.slo.name }}</td>
<td class="l">{{ a.severity }}</td>
<td>{{ a.long_window_seconds|duration }} / {{ a.short_window_seconds|duration }}</td>
<td>{{ "%.4g"|format(a.threshold) }}x</td><td>{{ a.long_burn_rate|rate }}</td>
<td>{{ a.short_burn_rate|rate }}</td>
<td class="l"><span class="state {{ alert_status(a) }}">{{ alert_status(a) }}</span></td></tr>
{% endfor %}{% endfor %}</table>

{% for s in overall %}{% if endpoints[s.slo.name] %}
<h2>{{ s.slo.name }} per endpoint</h2>
{% set png = images.get("endpoints-" ~ slug(s.slo.name)) %}{% if png %}
<img alt="{{ s.slo.name }}: error budget left per endpoint" src="data:image/png;base64,{{ png }}">
{% endif %}
<table>
<tr><th>endpoint</th><th>SLI (95% interval)</th><th>events</th><th>budget left</th>
<th>burn 1h</th><th>burn 1d</th><th>whole window</th><th>state</th></tr>
{% for e in endpoints[s.slo.name] %}{% set by = dict(e.burn_rates) %}
<tr><td><code>{{ e.endpoint }}</code></td><td>{{ sli_text(e) }}</td>
<td>{{ "{:,.0f}".format(e.counts.total) }}</td><td>{{ budget_text(e) }}</td>
<td>{{ by.get(3600)|rate }}</td><td>{{ by.get(86400)|rate }}</td>
<td>{{ e.period_burn_rate|rate }}</td>
<td class="l"><span class="state {{ e.state.value }}">{{ e.state.value }}</span></td></tr>
{% endfor %}</table>
{% endif %}{% endfor %}

{% if report.probes %}<h2>Probes</h2>
<table>
<tr><th>probe</th><th>family</th><th>endpoint</th><th>last</th><th>passed</th><th>failed</th>
<th>error</th><th>skipped</th><th>reason</th></tr>
{% for p in report.probes %}<tr><td><code>{{ p.probe }}</code></td><td class="l">{{ p.family }}</td>
<td class="l">{{ p.method or "" }} {{ p.endpoint or "" }}</td>
<td class="l"><span class="state {{ p.last_outcome }}">{{ p.last_outcome }}</span></td>
<td>{{ p.passed }}</td><td>{{ p.failed }}</td><td>{{ p.errors }}</td><td>{{ p.skipped }}</td>
<td class="l">{{ p.reason or "" }}</td></tr>
{% endfor %}</table>{% endif %}

{% if report.notes or report.excluded_load %}<h2>Notes</h2><ul>
{% for n in report.notes %}<li>{{ n }}</li>{% endfor %}
{% for name, c in report.excluded_load %}<li>{{ name }}: {{ "{:,.0f}".format(c.total) }} load-test
events in this window are not counted (see <code>slo capacity</code>)</li>{% endfor %}
</ul>{% endif %}
</body>
</html>
"""
