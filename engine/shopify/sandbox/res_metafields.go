package sandbox

// Metafield objects (mut_metafields.go writes them): the Metafield type,
// the metafield/metafields fields of every owner, and "$app" namespaces.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// appNamespace is what "$app" resolves to: app-owned metafield namespaces
// are spelled "$app:events" by the app and stored as "app--9000--events".
const appNamespace = "app--9000"

func resolveNamespace(ns string) string {
	switch {
	case ns == "" || ns == "$app":
		return appNamespace
	case strings.HasPrefix(ns, "$app:"):
		return appNamespace + "--" + strings.TrimPrefix(ns, "$app:")
	}
	return ns
}

// --- metafield owners --------------------------------------------------------------

// metafieldField answers metafield/metafields for any owner.
func (x *execCtx) metafieldField(owner ownerRef, f *ast.Field, a map[string]any) (any, error) {
	if f.Name == "metafield" {
		return x.metafieldObj(x.st.metafieldOf(owner, resolveNamespace(strArg(a, "namespace")), strArg(a, "key"))), nil
	}
	ns := ""
	if s, ok := a["namespace"].(string); ok {
		ns = resolveNamespace(s)
	}
	keys := map[string]bool{}
	for _, k := range stringList(a["keys"]) {
		keys[k] = true
	}
	var items []page
	for _, m := range x.st.metafieldsOf(owner) {
		if ns != "" && m.Namespace != ns {
			continue
		}
		if len(keys) > 0 && !keys[m.Namespace+"."+m.Key] && !keys[m.Key] {
			continue
		}
		items = append(items, page{m.ID, metafieldR{m}})
	}
	return paginate("Metafield", items, a)
}

// --- metafields -----------------------------------------------------------------------

type metafieldR struct{ m *metafield }

func (metafieldR) typeName() string { return "Metafield" }

func (r metafieldR) field(x *execCtx, f *ast.Field, _ map[string]any) (any, error) {
	m := r.m
	switch f.Name {
	case "id":
		return gid("Metafield", m.ID), nil
	case "namespace":
		return m.Namespace, nil
	case "key":
		return m.Key, nil
	case "type":
		return m.Type, nil
	case "value":
		return m.Value, nil
	case "jsonValue":
		return jsonValue(m.Type, m.Value), nil
	case "compareDigest":
		return digest(m), nil
	case "ownerType":
		return strings.ToUpper(m.Owner.Type), nil
	case "owner":
		return x.resolveGID(m.Owner.gid()), nil
	case "createdAt":
		return timeString(m.CreatedAt), nil
	case "updatedAt":
		return timeString(m.UpdatedAt), nil
	}
	return nil, nil
}

// digest is a metafield's compareDigest: it changes whenever its value does.
func digest(m *metafield) string {
	sum := sha256.Sum256([]byte(m.Namespace + "\x00" + m.Key + "\x00" + m.Type + "\x00" + m.Value))
	return hex.EncodeToString(sum[:])
}

// jsonValue is a metafield's value as JSON: numbers and booleans as such,
// json as parsed, everything else as a string.
func jsonValue(typ, val string) any {
	switch typ {
	case "json":
		var v any
		if json.Unmarshal([]byte(val), &v) == nil {
			return v
		}
	case "number_integer":
		if n, err := strconv.ParseInt(val, 10, 64); err == nil {
			return n
		}
	case "number_decimal":
		if n, err := strconv.ParseFloat(val, 64); err == nil {
			return n
		}
	case "boolean":
		return val == "true"
	}
	return val
}
