package main

import (
	"fmt"
	"strconv"
	"strings"
)

// bodies are ~2 KB chat requests: a system prompt, a short earlier
// exchange and a new question, in 64 variants. Like a chat, a variant's
// history comes again and again, but its last message is new in every
// request (it carries the worker's request serial, spliced in at
// serialMark), so no cache sees the same request twice.
type bodies struct {
	plain, stream []template
}

// template is a body split where the request serial goes.
type template struct{ head, tail []byte }

const serialMark = "{{serial}}"

func newTemplate(body string) template {
	head, tail, ok := strings.Cut(body, serialMark)
	if !ok {
		panic("aupload: body without " + serialMark)
	}
	return template{[]byte(head), []byte(tail)}
}

var topics = []string{
	"a week in Lisbon in spring with museums, food and a day trip to Sintra",
	"migrating a PostgreSQL 12 database to version 16 with minimal downtime",
	"a vegetarian meal plan for a family of four on a tight budget",
	"preparing for a half marathon in twelve weeks after a knee injury",
	"writing a cover letter for a junior data analyst position",
	"choosing between a heat pump and a gas boiler for an old house",
	"explaining photosynthesis to a class of ten-year-olds",
	"setting up continuous integration for a small Go project",
}

var models = []string{"openai/gpt-4o-mini", "anthropic/claude-3.5-haiku", "meta-llama/llama-3.1-8b-instruct", "google/gemini-2.0-flash-001"}

func makeBodies(n int) bodies {
	var b bodies
	for i := 0; i < n; i++ {
		topic := topics[i%len(topics)]
		sys := "You are a helpful, careful assistant for the customers of a small company. " +
			"Answer in plain language, keep answers short unless asked for detail, use lists for steps, " +
			"and say so when you are not sure. Never invent prices, dates or phone numbers. Conversation " + strconv.Itoa(i) + "."
		q1 := "Hi! I need some help with " + topic + ". Where should I start, and what should I watch out for?"
		a1 := "Happy to help. Start by writing down what you already know and what you want to reach, then split the work " +
			"into small steps you can finish in a day. Watch out for doing everything at once: one step at a time, " +
			"check the result, then move on. Tell me your constraints (time, money, experience) and I can be more specific."
		q2 := "Thanks (question " + serialMark + "). I have about " + strconv.Itoa(3+i%9) + " hours a week and a modest budget. " +
			strings.Repeat("Could you give me a concrete plan for "+topic+", with a rough schedule, the three most common mistakes, and how I can tell that I am on track? ", 5) +
			"Please keep it practical."
		msgs := fmt.Sprintf(`[{"role":"system","content":%s},{"role":"user","content":%s},{"role":"assistant","content":%s},{"role":"user","content":%s}]`,
			strconv.Quote(sys), strconv.Quote(q1), strconv.Quote(a1), strconv.Quote(q2))
		model := models[i%len(models)]
		b.plain = append(b.plain, newTemplate(fmt.Sprintf(`{"model":%q,"messages":%s,"temperature":0.7,"max_tokens":800}`, model, msgs)))
		b.stream = append(b.stream, newTemplate(fmt.Sprintf(`{"model":%q,"stream":true,"messages":%s,"temperature":0.7,"max_tokens":800}`, model, msgs)))
	}
	return b
}
