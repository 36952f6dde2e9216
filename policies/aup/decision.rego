# METADATA
# title: OpenRouter Acceptable Use Policy
# description: |
#   Turns what the detectors found in the end user's own text
#   (input.signals), an optional guard-model verdict (input.classifier) and
#   who is asking (input.subject) into one decision; the operator's text
#   (input.by_author.operator) into decision.operator, recorded against the
#   app, never the user. Every number and action lives in data.aup (data.json): the
#   taxonomy with thresholds, strikes and escalations, PII actions, per-app
#   overrides (data.aup.apps.NAME) and dry-run lists. This file only combines
#   them, and iterates only over categories present in the input, so a clean
#   request costs next to nothing.
#
#   Input:
#     subject:    {app, end_user, standing, strikes, reports, zdr, endpoint, model, non_text, operator_roles}
#     unscanned:  {KIND: count, total: n} the end user's parts no detector reads (below)
#     signals:    {categories: {ID: {score, rules}}, pii: {KIND: count}, safe_context: [..], length,
#                  model: {ran, harmful, categories: {ID: p}, english}} (the end user's own text only)
#     by_author:  {operator: SIGNALS, model: SIGNALS, tool: SIGNALS} (same shape; empty when no such text)
#     classifier: {verdict: safe|unsafe, codes: [S-codes or moderation labels], categories: [IDs]} (optional)
package aup

# METADATA
# title: Request decision
# description: |
#   The decision for one end-user request: action (allow < redact < flag <
#   block, most severe wins), categories, severity, strike (the largest of
#   the violated categories: one request is one incident; a flag weighs
#   settings.flag_strike_factor of a block), reasons, rules,
#   escalation (from blocked categories), legal_hold, the PII kinds to
#   redact, and dry_run / would_action for shadow-mode categories, all from
#   the end user's own text. decision.operator judges the operator's text
#   (system and developer prompts) with the same taxonomy thresholds:
#   {action, categories, severity, reasons, rules}, never a strike or an
#   escalation; the gateway records its violations against the app. The
#   model's earlier answers and tool output (input.by_author.model, .tool)
#   are not charged to anyone here: the answer check judges model output.
# entrypoint: true
decision := object.union(_decide(_request_hits, 1), {"operator": _operator_decision})

# METADATA
# title: Answer decision
# description: |
#   The decision for a model answer (or a piece of a stream). Categories may
#   carry an "output" object in data that overrides their action and
#   thresholds for answers (self-harm instructions in an answer are blocked,
#   a user asking about self-harm is only flagged); PII uses output_action;
#   strikes are scaled by settings.output_strike_factor, since the user only
#   elicited the answer.
# entrypoint: true
output_decision := _decide(_output_hits, data.aup.settings.output_strike_factor)

_actions := ["allow", "redact", "flag", "block"]

_action_rank := {"allow": 0, "redact": 1, "flag": 2, "block": 3}

_severities := ["", "low", "medium", "high", "critical"]

_severity_rank := {"": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

_escalations := ["", "suspend", "ban"]

# A flag is an ambiguous hit: it weighs less on the user's record than a block.
_strike_weight := {2: data.aup.settings.flag_strike_factor, 3: 1}

_escalation_rank := {"": 0, "suspend": 1, "ban": 2}

# --- the decision: maxima over the hits that are enforced

# No hits (the common case of a request with signals below every
# threshold): the decision below with nothing in it, without its dozen
# comprehensions.
_decide(hits, strike_factor) := {
	"action": "allow",
	"categories": [],
	"severity": "",
	"strike": 0 * strike_factor,
	"reasons": sort(_unknown_reasons),
	"rules": [],
	"escalation": "",
	"legal_hold": false,
	"redact": [],
	"dry_run": false,
	"would_action": "allow",
} if {
	count(hits) == 0
} else := d if {
	enforced := _enforced(hits)
	rank := max({h.rank | some h in enforced} | {0})
	would := max({h.rank | some h in hits} | {0})
	d := {
		"action": _actions[rank],
		"categories": sort(object.keys(enforced)),
		"severity": _severities[max({h.severity | some h in enforced} | {0})],
		"strike": max({h.strike | some h in enforced; h.rank >= 2} | {0}) * strike_factor,
		"reasons": sort(({h.reason | some h in enforced} | _shadow_reasons(hits)) | _unknown_reasons),
		"rules": sort({r | some h in enforced; some r in h.rules}),
		"escalation": _escalations[max({h.escalation | some h in enforced; h.rank == 3} | {0})],
		"legal_hold": true in {h.legal_hold | some h in enforced; h.rank >= 2},
		"redact": sort({h.kind | some h in enforced; h.rank == 1}),
		"dry_run": would > rank,
		"would_action": _actions[would],
	}
}

# The operator's part: categories only, confirmed by the learned tier on
# the operator's text (PII in a system prompt is the operator's own data),
# no classifier, no strike, no escalation.
_operator_decision := {"action": "allow", "categories": [], "severity": "", "reasons": [], "rules": []} if {
	# No operator text scored: nothing to judge (evaluating the empty case
	# costs a flagged request tens of microseconds).
	count(_operator_categories) == 0
} else := d if {
	hits := _operator_hits
	enforced := _enforced(hits)
	rank := max({h.rank | some h in enforced} | {0})
	d := {
		"action": _actions[rank],
		"categories": sort(object.keys(enforced)),
		"severity": _severities[max({h.severity | some h in enforced} | {0})],
		"reasons": sort({h.reason | some h in enforced} | _shadow_reasons(hits)),
		"rules": sort({r | some h in enforced; some r in h.rules}),
	}
}

_operator_hits := {id: h |
	some id, s in _operator_categories
	conf := _category_conf(id)
	_operator_confirmed(conf)
	h := _hit(id, conf, s.score, s.rules, _operator_safe_context)
}

# The operator's lexicon hits need the learned tier's agreement on the
# operator's text, as the end user's do: a system prompt lists what the
# app must refuse, and those words meet the lexicon's rules by chance.
default _operator_model := {"ran": false, "harmful": 0}

_operator_model := input.by_author.operator.model

_operator_confirmed(_) if not _operator_model.ran

_operator_confirmed(conf) if conf.severity == "critical"

_operator_confirmed(_) if _operator_model.harmful >= _model_settings.confirm

# Hits are the categories and PII kinds (as pii_KIND) whose action is not
# allow, with ranks instead of names so the decision only takes maxima;
# a request also carries unscanned media's (below).
_request_hits := object.union(_text_hits, _unscanned_hits)

_text_hits := object.union(
	{id: h | some id in _ids; h := _category_hit(id, _category_conf(id))},
	{concat("", ["pii_", kind]): h | some kind, n in _pii_counts; h := _pii_hit(kind, n, _pii_conf(kind).action)},
)

_output_hits := object.union(
	{id: h | some id in _ids; c := _category_conf(id); h := _category_hit(id, object.union(c, object.get(c, "output", {})))},
	{concat("", ["pii_", kind]): h |
		some kind, n in _pii_counts
		h := _pii_hit(kind, n, object.get(_pii_conf(kind), "output_action", "allow"))
	},
)

# --- dry run: shadowed hits are reported, not enforced

_dry_run := {x | some x in data.aup.dry_run} | {x | some x in object.get(_app, "dry_run", [])}

_enforced(hits) := hits if count(_dry_run) == 0

else := {id: h | some id, h in hits; not _shadow(id)}

_shadow_reasons(hits) := set() if count(_dry_run) == 0

else := {concat("", ["dry_run: ", h.reason]) | some id, h in hits; _shadow(id)}

_shadow(_) if "all" in _dry_run

_shadow(id) if id in _dry_run

# --- inputs, with defaults so a partial input never makes the decision undefined

# (Named input paths, never the whole input: the engine reuses decisions for
# inputs equal in every path the policy reads, see internal/policy/memo.go.)

default _signal_categories := {}

_signal_categories := input.signals.categories

default _pii_counts := {}

_pii_counts := input.signals.pii

default _safe_context := []

_safe_context := input.signals.safe_context

default _operator_categories := {}

_operator_categories := input.by_author.operator.categories

default _operator_safe_context := []

_operator_safe_context := input.by_author.operator.safe_context

default _app := {}

_app := data.aup.apps[input.subject.app]

# Categories named by the input: only these are looked at.
_ids := (object.keys(_signal_categories) | _classifier_ids) | _model_ids

# --- learned tier: input.signals.model (internal/classify), thresholds in data.aup.settings.model

default _model := {"ran": false, "harmful": 0, "categories": {}, "english": 0}

_model := input.signals.model

# Without settings.model the learned tier never acts (a bundle without a model).
default _model_settings := {"flag": 2, "block": 2, "confirm": 0}

_model_settings := data.aup.settings.model

# The lexicon reads English only: in other languages the learned tier is
# the only evidence, and settings.model.flag_other_language (at least 0.5,
# where input.signals.model.english is computed) may trust it from a lower
# score. A text is English when at least settings.model.english_share
# (default 0.15) of its words are English function words.
_model_flag := _model_settings.flag_other_language if {
	_model.english < object.get(_model_settings, "english_share", 0.15)
} else := _model_settings.flag

# The model names the category with the largest share of its harm
# probability, once that probability reaches the flag threshold.
_model_ids contains id if {
	_model.harmful >= _model_flag
	top := max({v | some v in _model.categories})
	some id, v in _model.categories
	v == top
}

# A lexicon hit counts only where the model agrees that the text may be
# harmful (harm probability at least settings.model.confirm): the lexicon's
# false positives are long innocent texts whose words meet by chance, and
# the model reads the whole text. Critical categories and guard-model
# verdicts are never overruled.
_lexicon_confirmed(_, _) if not _model.ran

_lexicon_confirmed(_, conf) if conf.severity == "critical"

_lexicon_confirmed(id, _) if id in _classifier_ids

_lexicon_confirmed(_, _) if _model.harmful >= _model_settings.confirm

_model_rank(id, conf) := 3 if {
	id in _model_ids
	conf.action == "block"
	_model.harmful >= _model_settings.block
}

else := 2 if {
	id in _model_ids
	conf.action != "allow"
}

else := 0

_unknown_reasons contains sprintf("unknown_category: %s (not in data.aup.categories)", [id]) if {
	some id in _ids
	not data.aup.categories[id]
}

# --- classifier verdict: codes (S1..S14, moderation labels) mapped through data.aup.classifier.map

_classifier_unsafe if input.classifier.verdict == "unsafe"

_classifier_ids contains id if {
	_classifier_unsafe
	some code in object.get(input.classifier, "codes", [])
	id := data.aup.classifier.map[code]
}

_classifier_ids contains id if {
	_classifier_unsafe
	some id in object.get(input.classifier, "categories", [])
}

# --- categories

# A per-app override merges over the taxonomy entry.
_category_conf(id) := object.union(data.aup.categories[id], _app.categories[id]) if _app.categories[id]

else := data.aup.categories[id]

_score(id) := max({object.get(_signal_categories, [id, "score"], 0), data.aup.settings.classifier_score}) if {
	_classifier_unsafe
	id in _classifier_ids
}

else := object.get(_signal_categories, [id, "score"], 0)

_rules(id) := object.get(_signal_categories, [id, "rules"], []) if not id in _classifier_ids

else := sort({r | some r in object.get(_signal_categories, [id, "rules"], [])} | {concat("", ["classifier.", id])})

# Safe context (fiction, history, definitions...) raises the thresholds of
# the categories that allow it, never those of critical harms. The detector
# already discounts scores in safe contexts (lexicon safe_contexts), so the
# default factor is 1.
_relax(conf, safe) := data.aup.settings.safe_context_factor if {
	count(safe) > 0
	conf.relax_in_safe_context
}

else := 1

# The category's action is the most it can do: block categories flag
# between the thresholds, flag categories never block, allow never acts.
_threshold_rank(conf, score, f) := 3 if {
	conf.action == "block"
	score >= conf.block_threshold * f
}

else := 2 if {
	conf.action != "allow"
	score >= conf.flag_threshold * f
}

else := 0

# The end user's categories: the lexicon (confirmed by the model), the
# guard-model verdict and the learned tier, the most severe rank wins.
_category_hit(id, conf) := h if {
	score := _score(id)
	lex := _lexicon_rank(id, conf, score)
	mdl := _model_rank(id, conf)
	rank := max({lex, mdl})
	rank > 0
	rules := _hit_rules(id, lex, mdl)
	hit := _hit_object(id, conf, rank, rules, sprintf("score %v, model %v; rules %s", [score, _model.harmful, concat(",", rules)]))
	h := _model_only_never_escalates(hit, lex)
}

# The learned tier alone refuses and strikes, but never suspends or bans: an
# escalation needs the lexicon's (or a guard model's) evidence too.
_model_only_never_escalates(hit, lex) := hit if lex > 0

else := object.union(hit, {"escalation": 0})

_lexicon_rank(id, conf, score) := _threshold_rank(conf, score, _relax(conf, _safe_context)) if _lexicon_confirmed(id, conf)

else := 0

_hit_rules(id, lex, mdl) := _rules(id) if mdl == 0

else := sort({r | some r in _rules(id)} | {concat("", ["model.", id])}) if lex > 0

else := [concat("", ["model.", id])]

_hit(id, conf, score, rules, safe) := h if {
	rank := _threshold_rank(conf, score, _relax(conf, safe))
	rank > 0
	h := _hit_object(id, conf, rank, rules, sprintf("score %v; rules %s", [score, concat(",", rules)]))
}

_hit_object(id, conf, rank, rules, why) := {
		"rank": rank,
		"severity": _severity_rank[conf.severity],
		"strike": conf.strike * _strike_weight[rank],
		"escalation": _escalation_rank[conf.escalation],
		"legal_hold": conf.legal_hold,
	"rules": rules,
	"reason": sprintf("%s: %s (%s)", [id, _actions[rank], why]),
}

# --- PII

_pii_conf(kind) := object.union(data.aup.pii[kind], _app.pii[kind]) if _app.pii[kind]

else := data.aup.pii[kind]

_pii_hit(kind, n, action) := h if {
	n > 0
	rank := _action_rank[action]
	rank > 0
	conf := _pii_conf(kind)
	h := {
		"rank": rank,
		"severity": _severity_rank[conf.severity],
		"strike": conf.strike,
		"escalation": 0,
		"legal_hold": false,
		"kind": kind,
		"rules": [concat("", ["pii.", kind])],
		"reason": sprintf("pii_%s: %s (%v found)", [kind, action, n]),
	}
}

# --- unscanned media: input.unscanned, data.aup.unscanned

# Parts of a request no detector reads (images, audio, video, files,
# documents, token arrays) are counted in input.unscanned, e.g.
# {"image_url": 2, "total": 2}. data.aup.unscanned.action (allow | flag |
# block; an app's data.aup.apps.NAME.unscanned overrides it) says what a
# request carrying at least one gets: allow (the default) decides it on its
# text alone; flag reports it; block refuses it. The hit is category
# "unscanned_media", with the strike and severity of data.aup.unscanned (0
# and "low" by default), never an escalation.

default _unscanned_total := 0

_unscanned_total := input.unscanned.total

default _unscanned_conf := {"action": "allow"}

_unscanned_conf := object.union(data.aup.unscanned, object.get(_app, "unscanned", {}))

default _unscanned_hits := {}

_unscanned_hits := {"unscanned_media": h} if {
	_unscanned_total > 0
	rank := _action_rank[_unscanned_conf.action]
	rank >= 2
	kinds := sort([k | some k, _ in input.unscanned; k != "total"])
	h := {
		"rank": rank,
		"severity": _severity_rank[object.get(_unscanned_conf, "severity", "low")],
		"strike": object.get(_unscanned_conf, "strike", 0),
		"escalation": 0,
		"legal_hold": false,
		"rules": [concat("", ["unscanned.", k]) | some k in kinds],
		"reason": sprintf("unscanned_media: %s (%v parts no detector reads: %s)", [_actions[rank], _unscanned_total, concat(",", kinds)]),
	}
}
