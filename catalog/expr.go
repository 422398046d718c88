package catalog

import (
	"fmt"
	"sort"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// CEL expressions in definitions: eligibility over the requester; price parts over the form and
// quantity. Every expression is compiled when the catalog is applied, must yield a bool, and
// runs with a cost limit, so a definition can never make a request hang or burn CPU.

// maxExprCost bounds the work of one evaluation (CEL's cost units, roughly one per operation).
const maxExprCost = 10_000

// maxExprLen bounds an expression's source.
const maxExprLen = 2_000

var (
	requesterEnv = mustEnv(cel.Variable("requester", cel.MapType(cel.StringType, cel.DynType)))
	formEnv      = mustEnv(
		cel.Variable("form", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("quantity", cel.IntType),
		cel.Variable("requester", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("quote", cel.MapType(cel.StringType, cel.DynType)),
		cel.CrossTypeNumericComparisons(true),
	)
)

func mustEnv(opts ...cel.EnvOption) *cel.Env {
	env, err := cel.NewEnv(opts...)
	if err != nil {
		panic(err)
	}
	return env
}

// Expr is a compiled boolean CEL expression.
type Expr struct {
	src string
	prg cel.Program
}

// compileExpr compiles src in env and checks it yields a bool.
func compileExpr(env *cel.Env, src string) (*Expr, error) {
	if strings.TrimSpace(src) == "" {
		return nil, fmt.Errorf("the expression is empty")
	}
	if len(src) > maxExprLen {
		return nil, fmt.Errorf("the expression is longer than %d characters", maxExprLen)
	}
	ast, iss := env.Compile(src)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%s", strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	if !ast.OutputType().IsExactType(types.BoolType) && ast.OutputType() != cel.DynType {
		return nil, fmt.Errorf("the expression must be true or false, not %s", ast.OutputType())
	}
	prg, err := env.Program(ast, cel.CostLimit(maxExprCost), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, err
	}
	return &Expr{src: src, prg: prg}, nil
}

// CompileEligibility compiles an eligibility rule over `requester`.
func CompileEligibility(src string) (*Expr, error) {
	return cachedExpr(eligibilityExprs, requesterEnv, src)
}

// CompileCondition compiles a condition over `form`, `quantity`, `requester` and `quote`.
func CompileCondition(src string) (*Expr, error) { return cachedExpr(conditionExprs, formEnv, src) }

// Compiled programs are kept by source: every submission and every workflow step evaluates the
// same few rules. (Programs are immutable and safe to share.)
var eligibilityExprs, conditionExprs = newCache[*Expr](), newCache[*Expr]()

func cachedExpr(c *cache[*Expr], env *cel.Env, src string) (*Expr, error) {
	if e, ok := c.get(src); ok {
		return e, nil
	}
	e, err := compileExpr(env, src)
	if err == nil {
		c.put(src, e)
	}
	return e, err
}

// Eval evaluates the expression; an error (a missing key, a type mismatch, the cost limit) is
// reported, never treated as true.
func (e *Expr) Eval(vars map[string]any) (bool, error) {
	out, _, err := e.prg.Eval(vars)
	if err != nil {
		return false, fmt.Errorf("evaluate %q: %w", e.src, err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("evaluate %q: got %s, not true or false", e.src, typeName(out))
	}
	return bool(b), nil
}

func typeName(v ref.Val) string { return fmt.Sprint(v.Type()) }

// RequesterVars is what an eligibility rule sees of a person: id, department, manager, groups,
// roles, every free attribute (location, employment...) and the attributes map itself.
func RequesterVars(p Person) map[string]any {
	m := map[string]any{
		"id": p.ID, "department": p.Department, "manager": p.Manager,
		"groups": nonNilStrings(p.Groups), "roles": nonNilStrings(p.Roles),
	}
	attrs := map[string]any{}
	keys := make([]string, 0, len(p.Attributes))
	for k := range p.Attributes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		attrs[k] = p.Attributes[k]
		if _, taken := m[k]; !taken {
			m[k] = p.Attributes[k]
		}
	}
	m["attributes"] = attrs
	return m
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ConditionVars are the variables of a condition: the form, the quantity, the requester and the
// quote (its amounts as numbers in currency units: quote.total > 1000).
func ConditionVars(form map[string]any, quantity int, requester Person, q *Quote) map[string]any {
	qm := map[string]any{"total": 0.0, "unit_price": 0.0, "currency": "", "recurrence": OneOff}
	if q != nil {
		qm = map[string]any{"total": q.Total.Float(), "unit_price": q.UnitPrice.Float(), "currency": q.Currency, "recurrence": q.Recurrence}
	}
	if form == nil {
		form = map[string]any{}
	}
	return map[string]any{"form": form, "quantity": int64(quantity), "requester": RequesterVars(requester), "quote": qm}
}

// Holds evaluates a condition source; an empty condition holds.
func Holds(src string, vars map[string]any) (bool, error) {
	if src == "" {
		return true, nil
	}
	e, err := CompileCondition(src)
	if err != nil {
		return false, err
	}
	return e.Eval(vars)
}
