package aup_test

import data.aup

# --- helpers

_subject := {"app": "web", "end_user": "u1", "standing": "active", "strikes": 0, "reports": 0, "zdr": false, "endpoint": "chat", "model": "openai/gpt-4o", "non_text": {}}

_input(cats, pii) := {
	"subject": _subject,
	"signals": {"categories": cats, "pii": pii, "safe_context": [], "length": 100},
}

_one(id, score) := _input({id: {"score": score, "rules": [concat("", [id, ".r1"])]}}, {})

_decide(id, score) := d if {
	d := aup.decision with input as _one(id, score)
}

_app_input(app, cats) := object.union(_input(cats, {}), {"subject": {"app": app}})

# --- signal-free input

test_empty_input_allows if {
	d := aup.decision with input as _input({}, {})
	d.action == "allow"
	d.categories == []
	d.reasons == []
	d.rules == []
	d.strike == 0
	d.severity == ""
	d.escalation == ""
	not d.legal_hold
	not d.dry_run
}

test_missing_signals_still_decide if {
	d := aup.decision with input as {"subject": _subject}
	d.action == "allow"
}

test_output_empty_allows if {
	d := aup.output_decision with input as _input({}, {})
	d.action == "allow"
}

# --- every category of the taxonomy, driven by its own thresholds

test_every_category_allows_below_flag_threshold if {
	every id, c in data.aup.categories {
		d := _decide(id, c.flag_threshold / 2)
		d.action == "allow"
		d.categories == []
	}
}

test_every_flag_or_block_category_flags_between_thresholds if {
	flagging := {id: c | some id, c in data.aup.categories; c.action in {"flag", "block"}}
	count(flagging) >= 12
	every id, c in flagging {
		d := _decide(id, (c.flag_threshold + c.block_threshold) / 2)
		d.action == "flag"
		d.categories == [id]
		d.severity == c.severity
		d.strike == c.strike * data.aup.settings.flag_strike_factor
		d.rules == [concat("", [id, ".r1"])]
	}
}

test_every_block_category_blocks_at_block_threshold if {
	blocking := {id: c | some id, c in data.aup.categories; c.action == "block"}
	count(blocking) >= 9
	every id, c in blocking {
		d := _decide(id, c.block_threshold)
		d.action == "block"
		d.categories == [id]
		startswith(d.reasons[0], concat("", [id, ": block"]))
	}
}

test_allow_categories_never_refuse if {
	allowing := {id | some id, c in data.aup.categories; c.action == "allow"}
	"sexual_content" in allowing
	every id in allowing {
		d := _decide(id, 5)
		d.action == "allow"
		d.categories == []
	}
}

test_unknown_category_is_reported_not_decided if {
	d := _decide("no_such_category", 3)
	d.action == "allow"
	d.reasons == ["unknown_category: no_such_category (not in data.aup.categories)"]
}

# --- categories with special treatment

test_csam_blocks_bans_and_holds if {
	d := _decide("child_sexual_exploitation", 0.6)
	d.action == "block"
	d.severity == "critical"
	d.escalation == "ban"
	d.legal_hold
	d.strike == 10
}

test_csam_flag_holds_evidence_but_does_not_ban if {
	d := _decide("child_sexual_exploitation", 0.35)
	d.action == "flag"
	d.escalation == ""
	d.legal_hold
	d.strike == 5
}

test_mass_casualty_weapons_blocks_and_suspends if {
	d := _decide("mass_casualty_weapons", 0.9)
	d.action == "block"
	d.escalation == "suspend"
	not d.legal_hold
}

test_self_harm_flags_without_strike_even_at_high_score if {
	d := _decide("self_harm", 3)
	d.action == "flag"
	d.strike == 0
	d.categories == ["self_harm"]
}

test_self_harm_instructions_in_answers_are_blocked if {
	d := aup.output_decision with input as _one("self_harm", 0.95)
	d.action == "block"
}

test_output_strike_is_scaled if {
	d := aup.output_decision with input as _one("violent_crime_and_terrorism", 1)
	d.action == "block"
	d.strike == data.aup.categories.violent_crime_and_terrorism.strike * data.aup.settings.output_strike_factor
}

test_most_severe_action_and_largest_strike_win if {
	d := aup.decision with input as _input(
		{
			"intellectual_property": {"score": 0.7, "rules": ["ip.a"]},
			"violent_crime_and_terrorism": {"score": 0.95, "rules": ["vc.a", "vc.b"]},
			"platform_abuse": {"score": 0.6, "rules": ["pa.a"]},
		},
		{},
	)
	d.action == "block"
	d.categories == ["intellectual_property", "platform_abuse", "violent_crime_and_terrorism"]
	d.severity == "high"
	d.strike == data.aup.categories.violent_crime_and_terrorism.strike
	d.rules == ["ip.a", "pa.a", "vc.a", "vc.b"]
	count(d.reasons) == 3
	"violent_crime_and_terrorism: block (score 0.95; rules vc.a,vc.b)" in d.reasons
}

# --- safe context relaxes only the categories that allow it

test_safe_context_relaxes_violence if {
	inp := object.union(_one("violent_crime_and_terrorism", 0.95), {"signals": {"safe_context": ["fiction"]}})
	d := aup.decision with input as inp with data.aup.settings.safe_context_factor as 1.5
	d.action == "flag" # block threshold 0.9 * 1.5 = 1.35; flag 0.5 * 1.5 = 0.75
	d0 := aup.decision with input as inp
	d0.action == "block" # by default the detector alone discounts safe contexts
}

test_safe_context_does_not_relax_critical_harms if {
	inp := object.union(_one("mass_casualty_weapons", 0.85), {"signals": {"safe_context": ["history"]}})
	d := aup.decision with input as inp with data.aup.settings.safe_context_factor as 1.5
	d.action == "block"
}

# --- PII

test_pii_redacted_by_default if {
	d := aup.decision with input as _input({}, {"email": 2, "phone": 1})
	d.action == "redact"
	d.redact == ["email", "phone"]
	d.categories == ["pii_email", "pii_phone"]
	d.strike == 0
	"pii_email: redact (2 found)" in d.reasons
}

test_every_pii_kind_has_its_action if {
	every kind, c in data.aup.pii {
		d := aup.decision with input as _input({}, {kind: 1})
		d.action == c.action
	}
}

test_api_key_blocks if {
	d := aup.decision with input as _input({}, {"api_key": 1, "email": 1})
	d.action == "block"
	d.redact == ["email"]
	d.categories == ["pii_api_key", "pii_email"]
}

test_zero_pii_count_is_ignored if {
	d := aup.decision with input as _input({}, {"email": 0})
	d.action == "allow"
}

test_pii_in_answers_uses_output_action if {
	d := aup.output_decision with input as _input({}, {"email": 3, "api_key": 1})
	d.action == "flag"
	d.categories == ["pii_api_key"]
	d.redact == []
}

test_redaction_survives_a_flag if {
	d := aup.decision with input as _input({"platform_abuse": {"score": 0.6, "rules": []}}, {"card": 1})
	d.action == "flag"
	d.redact == ["card"]
}

# --- per-app overrides in data

_apps := {
	"adult": {"categories": {"sexual_content": {"action": "allow"}}},
	"kids": {
		"categories": {"sexual_content": {"action": "block", "flag_threshold": 0.2, "block_threshold": 0.4, "strike": 2}},
		"pii": {"email": {"action": "block"}},
	},
	"lenient": {"categories": {"platform_abuse": {"flag_threshold": 0.9}}},
	"shadow": {"dry_run": ["violent_crime_and_terrorism"]},
}

test_app_override_blocks_sexual_content_for_kids if {
	d := aup.decision with input as _app_input("kids", {"sexual_content": {"score": 0.5, "rules": ["sx.a"]}})
		with data.aup.apps as _apps
	d.action == "block"
	d.strike == 2
}

test_app_override_does_not_leak_to_other_apps if {
	d := aup.decision with input as _app_input("adult", {"sexual_content": {"score": 0.5, "rules": ["sx.a"]}})
		with data.aup.apps as _apps
	d.action == "allow"
}

test_app_override_of_threshold if {
	d1 := aup.decision with input as _app_input("lenient", {"platform_abuse": {"score": 0.6, "rules": []}})
		with data.aup.apps as _apps
	d1.action == "allow"
	d2 := aup.decision with input as _app_input("web", {"platform_abuse": {"score": 0.6, "rules": []}})
		with data.aup.apps as _apps
	d2.action == "flag"
}

test_app_override_of_pii_action if {
	d := aup.decision with input as _app_input("kids", {}) with input.signals.pii as {"email": 1}
		with data.aup.apps as _apps
	d.action == "block"
}

# --- dry run

test_dry_run_all_lets_everything_through if {
	d := _decide("mass_casualty_weapons", 0.9) with data.aup.dry_run as ["all"]
	d.action == "allow"
	d.dry_run
	d.would_action == "block"
	d.categories == []
	d.strike == 0
	d.escalation == ""
	startswith(d.reasons[0], "dry_run: mass_casualty_weapons: block")
}

test_dry_run_per_category_keeps_the_others if {
	d := aup.decision with input as _input(
		{
			"violent_crime_and_terrorism": {"score": 0.95, "rules": []},
			"intellectual_property": {"score": 0.7, "rules": []},
		},
		{},
	)
		with data.aup.dry_run as ["violent_crime_and_terrorism"]
	d.action == "flag"
	d.categories == ["intellectual_property"]
	d.dry_run
	d.would_action == "block"
}

test_dry_run_per_app if {
	d := aup.decision with input as _app_input("shadow", {"violent_crime_and_terrorism": {"score": 0.95, "rules": []}})
		with data.aup.apps as _apps
	d.action == "allow"
	d.dry_run
}

test_dry_run_of_pii_kind if {
	d := aup.decision with input as _input({}, {"api_key": 1}) with data.aup.dry_run as ["pii_api_key"]
	d.action == "allow"
	d.dry_run
}

test_no_dry_run_flag_without_shadowed_hits if {
	d := _decide("violent_crime_and_terrorism", 0.95) with data.aup.dry_run as ["self_harm"]
	d.action == "block"
	not d.dry_run
}

# --- classifier verdicts

_with_verdict(v) := object.union(_input({}, {}), {"classifier": v})

test_classifier_unsafe_codes_map_to_categories if {
	d := aup.decision with input as _with_verdict({"verdict": "unsafe", "codes": ["S1", "S9"]})
	d.action == "block"
	d.categories == ["mass_casualty_weapons", "violent_crime_and_terrorism"]
	d.rules == ["classifier.mass_casualty_weapons", "classifier.violent_crime_and_terrorism"]
}

test_classifier_moderation_labels_map if {
	d := aup.decision with input as _with_verdict({"verdict": "unsafe", "codes": ["self-harm/intent"]})
	d.action == "flag"
	d.categories == ["self_harm"]
}

test_classifier_categories_taken_as_ids if {
	d := aup.decision with input as _with_verdict({"verdict": "unsafe", "categories": ["malware_and_intrusion"]})
	d.action == "block"
}

test_classifier_safe_changes_nothing if {
	d := aup.decision with input as _with_verdict({"verdict": "safe", "codes": ["S1"]})
	d.action == "allow"
}

test_classifier_and_signals_combine if {
	inp := object.union(_one("malware_and_intrusion", 0.6), {"classifier": {"verdict": "unsafe", "codes": ["S14"]}})
	d := aup.decision with input as inp
	d.action == "block"
	d.rules == ["classifier.malware_and_intrusion", "malware_and_intrusion.r1"]
}

test_classifier_score_is_data if {
	d := aup.decision with input as _with_verdict({"verdict": "unsafe", "codes": ["S1"]})
		with data.aup.settings.classifier_score as 0.6
	d.action == "flag"
}

test_classifier_unmapped_code_is_ignored if {
	d := aup.decision with input as _with_verdict({"verdict": "unsafe", "codes": ["S99"]})
	d.action == "allow"
}

test_classifier_allowed_category_stays_allowed if {
	d := aup.decision with input as _with_verdict({"verdict": "unsafe", "codes": ["S12"]})
	d.action == "allow"
}
