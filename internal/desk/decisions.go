package desk

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/deskapi"
	"github.com/aupguard/aupguard/internal/store"
)

// Decision ids are ULIDs (internal/policy): 26 Crockford base32 digits,
// the first 10 the decision's Unix milliseconds. A report is recorded as
// the decision is made (an answer's, as its check decides), so the reports
// carrying an id are found among those of a window around its time,
// without an index by decision id.
const (
	decisionIDLen       = 26
	decisionWindowStart = 5 * time.Minute // clocks of replicas disagree a little
	decisionWindowEnd   = time.Hour       // spooled reports keep their time; this covers skew and slow checks
	maxDecisionReports  = 100
)

var errNotDecisionID = errors.New("not a decision id: 26 characters of Crockford base32, as in a refusal's metadata.decision_id")

// decisionTime is the time a decision id was issued.
func decisionTime(id string) (time.Time, error) {
	if len(id) != decisionIDLen {
		return time.Time{}, errNotDecisionID
	}
	var ms uint64
	for i := 0; i < decisionIDLen; i++ {
		v := strings.IndexByte("0123456789ABCDEFGHJKMNPQRSTVWXYZ", id[i])
		if v < 0 {
			return time.Time{}, errNotDecisionID
		}
		if i < 10 {
			ms = ms<<5 | uint64(v)
		}
	}
	if id[0] > '7' { // 130 bits for 128: the first digit holds 3
		return time.Time{}, errNotDecisionID
	}
	return time.UnixMilli(int64(ms)).UTC(), nil
}

// apiDecision is GET decisions/{id}: what became of a decision a customer
// quotes from a refusal (metadata.decision_id): the reports that carry it,
// each naming its app, user, categories and whether it was reviewed.
func (d *Desk) apiDecision(c *gin.Context) {
	id := strings.ToUpper(strings.TrimSpace(c.Param("id")))
	at, err := decisionTime(id)
	if err != nil {
		badRequest(c, err.Error())
		return
	}
	v := deskapi.Decision{DecisionID: id, Time: at, Reports: []store.Report{}}
	errEnough := errors.New("enough")
	err = d.opt.Store.EachReport(c.Request.Context(), at.Add(-decisionWindowStart), at.Add(decisionWindowEnd), func(r store.Report) error {
		if r.DecisionID == id {
			v.Reports = append(v.Reports, r)
			if len(v.Reports) >= maxDecisionReports {
				return errEnough
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		d.storeError(c, err)
		return
	}
	if len(v.Reports) == 0 {
		apiError(c, http.StatusNotFound, reasonNotFound,
			"no report carries this decision id: only flag and block decisions are recorded (an allowed or redacted request leaves none, nor a refusal for standing or rate limits), and retention may have purged it", nil)
		return
	}
	v.Reports = d.scrub(v.Reports)
	c.JSON(http.StatusOK, v)
}
