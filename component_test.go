package herald

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWorstStatus(t *testing.T) {
	tests := []struct {
		name string
		in   []ComponentStatus
		want ComponentStatus
	}{
		{"none", nil, Operational},
		{"all operational", []ComponentStatus{Operational, Operational}, Operational},
		{"one degraded", []ComponentStatus{Operational, DegradedPerformance, Operational}, DegradedPerformance},
		{"maintenance beats degraded", []ComponentStatus{DegradedPerformance, UnderMaintenance}, UnderMaintenance},
		{"partial beats maintenance", []ComponentStatus{UnderMaintenance, PartialOutage, DegradedPerformance}, PartialOutage},
		{"major beats all, wherever it is", []ComponentStatus{MajorOutage, PartialOutage, UnderMaintenance}, MajorOutage},
		{"major last", []ComponentStatus{Operational, PartialOutage, MajorOutage}, MajorOutage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var comps []Component
			for i, s := range tt.in {
				comps = append(comps, Component{ID: fmt.Sprint(i), Status: s})
			}
			if got := WorstStatus(comps); got != tt.want {
				t.Errorf("WorstStatus(%v) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

// layout writes Arrange's result compactly: a stand-alone component as its
// id, a group as "id[member,member]".
func layout(items []ComponentItem) []string {
	out := []string{}
	for _, it := range items {
		if it.Group == nil {
			if it.Members != nil {
				out = append(out, it.Component.ID+"(with members!)")
				continue
			}
			out = append(out, it.Component.ID)
			continue
		}
		var ids []string
		for _, m := range it.Members {
			ids = append(ids, m.ID)
		}
		out = append(out, it.Group.ID+"["+strings.Join(ids, ",")+"]")
	}
	return out
}

func TestArrange(t *testing.T) {
	comp := func(id string, pos int, group string) Component {
		return Component{ID: id, Name: strings.ToUpper(id), Position: pos, GroupID: group, Status: Operational}
	}
	group := func(id string, pos int) ComponentGroup {
		return ComponentGroup{ID: id, Key: "key-" + id, Name: strings.ToUpper(id), Position: pos}
	}
	tests := []struct {
		name   string
		groups []ComponentGroup
		comps  []Component
		want   []string
	}{
		{"nothing", nil, nil, []string{}},
		{"no groups: by position", nil,
			[]Component{comp("c", 3, ""), comp("a", 1, ""), comp("b", 2, "")},
			[]string{"a", "b", "c"}},
		{"same position: by name", nil,
			[]Component{comp("zeta", 1, ""), comp("alpha", 1, ""), comp("mid", 0, "")},
			[]string{"mid", "alpha", "zeta"}},
		{"a group takes its own position among the components",
			[]ComponentGroup{group("g", 2)},
			[]Component{comp("a", 1, ""), comp("m2", 9, "g"), comp("m1", 4, "g"), comp("b", 3, "")},
			[]string{"a", "g[m1,m2]", "b"}},
		{"members by position, then name, whatever the input order",
			[]ComponentGroup{group("g", 1)},
			[]Component{comp("y", 2, "g"), comp("x", 2, "g"), comp("w", 1, "g")},
			[]string{"g[w,x,y]"}},
		{"a group and a component at one position: by name",
			[]ComponentGroup{group("b", 5)},
			[]Component{comp("c", 5, ""), comp("a", 5, ""), comp("m", 1, "b")},
			[]string{"a", "b[m]", "c"}},
		{"an empty group is left out",
			[]ComponentGroup{group("empty", 1), group("g", 2)},
			[]Component{comp("a", 3, "g")},
			[]string{"g[a]"}},
		{"an unknown group: the component stands alone",
			[]ComponentGroup{group("g", 1)},
			[]Component{comp("a", 2, "gone"), comp("b", 3, "g")},
			[]string{"g[b]", "a"}},
		{"two groups keep their own members",
			[]ComponentGroup{group("g2", 2), group("g1", 1)},
			[]Component{comp("a", 1, "g2"), comp("b", 2, "g1"), comp("c", 3, "g2"), comp("d", 4, "")},
			[]string{"g1[b]", "g2[a,c]", "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := Arrange(tt.groups, tt.comps)
			if diff := cmp.Diff(tt.want, layout(items)); diff != "" {
				t.Errorf("layout (-want +got):\n%s", diff)
			}
			for _, it := range items {
				if it.Group != nil && len(it.Members) == 0 {
					t.Errorf("group %s has no members", it.Group.ID)
				}
			}
		})
	}

	t.Run("groups are copies with their own fields", func(t *testing.T) {
		groups := []ComponentGroup{group("g1", 1), group("g2", 2)}
		items := Arrange(groups, []Component{comp("a", 1, "g1"), comp("b", 1, "g2")})
		if len(items) != 2 || items[0].Group == nil || items[1].Group == nil {
			t.Fatalf("layout = %v; want two groups", layout(items))
		}
		if items[0].Group.ID != "g1" || items[0].Group.Name != "G1" || items[0].Group.Key != "key-g1" ||
			items[1].Group.ID != "g2" || items[1].Group.Name != "G2" {
			t.Errorf("groups = %+v, %+v", *items[0].Group, *items[1].Group)
		}
		items[0].Group.Name = "changed"
		if groups[0].Name != "G1" {
			t.Errorf("changing an item's group changed the caller's slice")
		}
	})
}

func TestComponentItemStatus(t *testing.T) {
	g := &ComponentGroup{ID: "g", Name: "G"}
	tests := []struct {
		name string
		item ComponentItem
		want ComponentStatus
	}{
		{"a component: its own status", ComponentItem{Component: Component{ID: "a", Status: PartialOutage}}, PartialOutage},
		{"a component ignores members", ComponentItem{Component: Component{ID: "a", Status: Operational},
			Members: []Component{{ID: "x", Status: MajorOutage}}}, Operational},
		{"a group: its worst member", ComponentItem{Group: g, Component: Component{Status: MajorOutage},
			Members: []Component{{ID: "a", Status: Operational}, {ID: "b", Status: DegradedPerformance}}}, DegradedPerformance},
		{"a group, all operational", ComponentItem{Group: g,
			Members: []Component{{ID: "a", Status: Operational}, {ID: "b", Status: Operational}}}, Operational},
		{"a group under maintenance", ComponentItem{Group: g,
			Members: []Component{{ID: "a", Status: UnderMaintenance}, {ID: "b", Status: Operational}}}, UnderMaintenance},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.item.Status(); got != tt.want {
				t.Errorf("Status() = %q; want %q", got, tt.want)
			}
		})
	}
	t.Run("through Arrange", func(t *testing.T) {
		items := Arrange([]ComponentGroup{{ID: "g", Position: 1}}, []Component{
			{ID: "a", Position: 1, GroupID: "g", Status: Operational},
			{ID: "b", Position: 2, GroupID: "g", Status: PartialOutage},
			{ID: "c", Position: 3, Status: DegradedPerformance},
		})
		var got []ComponentStatus
		for _, it := range items {
			got = append(got, it.Status())
		}
		if diff := cmp.Diff([]ComponentStatus{PartialOutage, DegradedPerformance}, got); diff != "" {
			t.Errorf("statuses (-want +got):\n%s", diff)
		}
	})
}
