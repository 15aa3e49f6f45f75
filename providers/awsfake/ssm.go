package awsfake

import (
	"crypto/sha256"
	"encoding/base64"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The Parameter Store types and tiers.
const (
	TypeString       = "String"
	TypeStringList   = "StringList"
	TypeSecureString = "SecureString"

	TierStandard = "Standard"
	TierAdvanced = "Advanced"

	// DefaultKeyID is the key a SecureString gets when none is named: the
	// account's AWS managed key for Parameter Store.
	DefaultKeyID = "alias/aws/ssm"
)

// Parameter is one version of a Parameter Store parameter, as the fake
// holds it.
type Parameter struct {
	Name, Value    string
	Type           string // String (default), StringList, SecureString
	KeyID          string // SecureString only; DefaultKeyID when empty
	Tier           string // Standard (default) or Advanced
	Description    string
	DataType       string // "text" when empty
	AllowedPattern string
	// Set by the fake:
	Version  int64
	Modified time.Time
}

type parameter struct {
	versions []Parameter // version i+1 at index i
	denied   bool
}

func (p *parameter) current() Parameter { return p.versions[len(p.versions)-1] }

func paramARN(name string) string {
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	return "arn:aws:ssm:us-east-1:" + Account + ":parameter" + name
}

// PutParameter stores p as the parameter's new version (creating it if
// needed), filling in the defaults, and returns the version number. It is
// the test's back door: no overwrite rules apply.
func (s *Server) PutParameter(p Parameter) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.Type == "" {
		p.Type = TypeString
	}
	if p.Type == TypeSecureString && p.KeyID == "" {
		p.KeyID = DefaultKeyID
	}
	if p.Tier == "" {
		p.Tier = TierStandard
	}
	if p.DataType == "" {
		p.DataType = "text"
	}
	return s.appendVersion(p)
}

func (s *Server) appendVersion(p Parameter) int64 {
	par := s.params[p.Name]
	if par == nil {
		par = &parameter{}
		s.params[p.Name] = par
	}
	p.Version = int64(len(par.versions) + 1)
	p.Modified = time.Now()
	par.versions = append(par.versions, p)
	return p.Version
}

// Parameter returns the parameter's current version.
func (s *Server) Parameter(name string) (Parameter, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	par := s.params[name]
	if par == nil {
		return Parameter{}, false
	}
	return par.current(), true
}

// ParameterHistory returns every version of the parameter, oldest first.
func (s *Server) ParameterHistory(name string) []Parameter {
	s.mu.Lock()
	defer s.mu.Unlock()
	if par := s.params[name]; par != nil {
		return slices.Clone(par.versions)
	}
	return nil
}

// DenyParameter makes the parameter unreadable to the caller, as when its
// KMS key may not be used: GetParameter, GetParameterHistory and
// PutParameter naming it, and any decrypting GetParametersByPath page
// holding it, answer AccessDeniedException. Undecrypted listings still
// show it.
func (s *Server) DenyParameter(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if par := s.params[name]; par != nil {
		par.denied = true
	}
}

func (s *Server) sortedParams() []string {
	return slices.Sorted(maps.Keys(s.params))
}

func paramNotFound(name string) *apiError {
	return errorf(http.StatusBadRequest, "ParameterNotFound", "Parameter %s not found.", name)
}

// shownValue is what a read returns: SecureStrings stay ciphertext unless
// decrypted (a stand-in derived from the name and version, never the value).
func shownValue(p Parameter, decrypt bool) string {
	if p.Type != TypeSecureString || decrypt {
		return p.Value
	}
	sum := sha256.Sum256([]byte(p.Name + "#" + strconv.FormatInt(p.Version, 10)))
	return "AQICAHh" + base64.StdEncoding.EncodeToString(sum[:])
}

func checkMax(limit *int32, highest int32) *apiError {
	if limit != nil && (*limit < 1 || *limit > highest) {
		return validation("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to %d", *limit, highest)
	}
	return nil
}

// The wire shapes, with AWS's member names.

type wireParameter struct {
	Name             string
	Type             string
	Value            string
	Version          int64
	LastModifiedDate epoch
	ARN              string
	DataType         string
	Selector         string `json:",omitempty"`
}

func toWire(p Parameter, decrypt bool) wireParameter {
	return wireParameter{
		Name: p.Name, Type: p.Type, Value: shownValue(p, decrypt), Version: p.Version,
		LastModifiedDate: epoch(p.Modified), ARN: paramARN(p.Name), DataType: p.DataType,
	}
}

type parameterFilter struct {
	Key    string
	Option string
	Values []string
}

type getParametersByPathInput struct {
	Path             string
	Recursive        bool
	WithDecryption   bool
	MaxResults       *int32
	NextToken        *string
	ParameterFilters []parameterFilter
}

type parametersOutput struct {
	Parameters []wireParameter
	NextToken  *string `json:",omitempty"`
}

func (s *Server) getParametersByPath(body []byte) (any, *apiError) {
	var in getParametersByPathInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(in.Path, "/") {
		return nil, validation("The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\".")
	}
	if len(in.ParameterFilters) > 0 {
		return nil, errorf(http.StatusBadRequest, "InvalidFilterKey", "the fake models GetParametersByPath without ParameterFilters")
	}
	if err := checkMax(in.MaxResults, 10); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	offset, aerr := readToken("GetParametersByPath", "InvalidNextToken", in.NextToken)
	if aerr != nil {
		return nil, aerr
	}
	prefix := strings.TrimSuffix(in.Path, "/") + "/"
	var match []*parameter
	for _, name := range s.sortedParams() {
		rest, ok := strings.CutPrefix(name, prefix)
		if ok && (in.Recursive || !strings.Contains(rest, "/")) {
			match = append(match, s.params[name])
		}
	}
	lo, hi, next := s.page(len(match), offset, in.MaxResults)
	out := parametersOutput{Parameters: []wireParameter{}}
	for _, par := range match[lo:hi] {
		cur := par.current()
		if par.denied && in.WithDecryption {
			// KMS refuses one value; Parameter Store fails the whole page.
			return nil, denied("kms:Decrypt", "arn:aws:kms:us-east-1:"+Account+":key/"+strings.TrimPrefix(cur.KeyID, "alias/"))
		}
		out.Parameters = append(out.Parameters, toWire(cur, in.WithDecryption))
	}
	if next > 0 {
		out.NextToken = pageToken("GetParametersByPath", next)
	}
	return out, nil
}

type getParameterInput struct {
	Name           string
	WithDecryption bool
}

type getParameterOutput struct {
	Parameter wireParameter
}

func (s *Server) getParameter(body []byte) (any, *apiError) {
	var in getParameterInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name, selector, hasSelector := strings.Cut(in.Name, ":")
	par := s.params[name]
	if par == nil {
		return nil, paramNotFound(name)
	}
	if par.denied {
		return nil, denied("ssm:GetParameter", paramARN(name))
	}
	p := par.current()
	if hasSelector {
		n, err := strconv.ParseInt(selector, 10, 64)
		if err != nil || n < 1 || n > int64(len(par.versions)) {
			return nil, errorf(http.StatusBadRequest, "ParameterVersionNotFound", "Systems Manager could not find version %s of %s.", selector, name)
		}
		p = par.versions[n-1]
	}
	w := toWire(p, in.WithDecryption)
	if hasSelector {
		w.Selector = ":" + selector
	}
	return getParameterOutput{Parameter: w}, nil
}

type putParameterInput struct {
	Name           string
	Value          *string
	Type           string
	KeyId          *string
	Overwrite      bool
	Tier           string
	Description    *string
	DataType       string
	AllowedPattern *string
	Policies       *string
	Tags           []struct{ Key, Value string }
}

type putParameterOutput struct {
	Version int64
	Tier    string
}

func (s *Server) putParameter(body []byte) (any, *apiError) {
	var in putParameterInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Name == "" || in.Value == nil {
		return nil, validation("1 validation error detected: Value null at 'name' or 'value' failed to satisfy constraint: Member must not be null")
	}
	if in.Overwrite && len(in.Tags) > 0 {
		return nil, validation("Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	par := s.params[in.Name]
	if par != nil && par.denied {
		return nil, denied("ssm:PutParameter", paramARN(in.Name))
	}
	if par != nil && !in.Overwrite {
		return nil, errorf(http.StatusBadRequest, "ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
	}
	p := Parameter{Name: in.Name, Value: *in.Value, Type: in.Type, Tier: TierStandard, DataType: in.DataType}
	switch {
	case par == nil && p.Type == "":
		return nil, validation("A parameter type is required when you create a parameter.")
	case par != nil && p.Type == "":
		p.Type = par.current().Type
	case par != nil && p.Type != par.current().Type:
		return nil, errorf(http.StatusBadRequest, "HierarchyTypeMismatchException", "Parameter Store does not support changing a parameter type in a hierarchy. You must create a new, unique parameter.")
	}
	switch p.Type {
	case TypeString, TypeStringList:
	case TypeSecureString:
		// Left out, the key is the account default, not the one in use.
		p.KeyID = DefaultKeyID
		if in.KeyId != nil && *in.KeyId != "" {
			p.KeyID = *in.KeyId
		}
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]", p.Type)
	}
	switch in.Tier {
	case "", TierStandard:
	case TierAdvanced:
		p.Tier = TierAdvanced
	case "Intelligent-Tiering":
		if len(p.Value) > 4096 {
			p.Tier = TierAdvanced
		}
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'tier' failed to satisfy constraint", in.Tier)
	}
	if par != nil && par.current().Tier == TierAdvanced {
		if in.Tier == TierStandard || in.Tier == "" {
			return nil, validation("This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier.")
		}
		p.Tier = TierAdvanced
	}
	if limit := map[string]int{TierStandard: 4096, TierAdvanced: 8192}[p.Tier]; len(p.Value) > limit {
		return nil, validation("Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.")
	}
	if p.DataType == "" {
		p.DataType = "text"
	}
	if in.Description != nil {
		p.Description = *in.Description
	}
	if in.AllowedPattern != nil {
		p.AllowedPattern = *in.AllowedPattern
		re, err := regexp.Compile(p.AllowedPattern)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "InvalidAllowedPatternException", "The request doesn't meet the regular expression requirement.")
		}
		if !re.MatchString(p.Value) {
			return nil, errorf(http.StatusBadRequest, "ParameterPatternMismatchException", "Parameter value, cannot be validated against allowedPattern: %s", p.AllowedPattern)
		}
	}
	v := s.appendVersion(p)
	return putParameterOutput{Version: v, Tier: p.Tier}, nil
}

type describeParametersInput struct {
	Filters []struct {
		Key    string
		Values []string
	}
	ParameterFilters []parameterFilter
	MaxResults       *int32
	NextToken        *string
}

type parameterMetadata struct {
	Name             string
	ARN              string
	Type             string
	KeyId            string `json:",omitempty"`
	LastModifiedDate epoch
	LastModifiedUser string
	Description      string `json:",omitempty"`
	AllowedPattern   string `json:",omitempty"`
	Version          int64
	Tier             string
	Policies         []struct{}
	DataType         string
}

type describeParametersOutput struct {
	Parameters []parameterMetadata
	NextToken  *string `json:",omitempty"`
}

func (s *Server) describeParameters(body []byte) (any, *apiError) {
	var in describeParametersInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkMax(in.MaxResults, 50); err != nil {
		return nil, err
	}
	filters := in.ParameterFilters
	for _, f := range in.Filters {
		filters = append(filters, parameterFilter{Key: f.Key, Option: "Equals", Values: f.Values})
	}
	for _, f := range filters {
		if f.Key != "Name" || (f.Option != "" && f.Option != "Equals" && f.Option != "BeginsWith") {
			return nil, errorf(http.StatusBadRequest, "InvalidFilterKey", "the fake models only Name filters with Equals or BeginsWith")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	offset, aerr := readToken("DescribeParameters", "InvalidNextToken", in.NextToken)
	if aerr != nil {
		return nil, aerr
	}
	names := s.sortedParams()
	// As on AWS, the filters apply to one page of parameters after it is
	// taken, so a page can be empty and still have a NextToken.
	lo, hi, next := s.page(len(names), offset, in.MaxResults)
	out := describeParametersOutput{Parameters: []parameterMetadata{}}
	for _, name := range names[lo:hi] {
		if !matchName(name, filters) {
			continue
		}
		p := s.params[name].current()
		out.Parameters = append(out.Parameters, parameterMetadata{
			Name: p.Name, ARN: paramARN(p.Name), Type: p.Type, KeyId: p.KeyID,
			LastModifiedDate: epoch(p.Modified), LastModifiedUser: "arn:aws:iam::" + Account + ":user/rekey-test",
			Description: p.Description, AllowedPattern: p.AllowedPattern, Version: p.Version,
			Tier: p.Tier, Policies: []struct{}{}, DataType: p.DataType,
		})
	}
	if next > 0 {
		out.NextToken = pageToken("DescribeParameters", next)
	}
	return out, nil
}

func matchName(name string, filters []parameterFilter) bool {
	for _, f := range filters {
		hit := false
		for _, v := range f.Values {
			if f.Option == "BeginsWith" {
				hit = hit || strings.HasPrefix(name, v)
			} else {
				hit = hit || name == v
			}
		}
		if !hit {
			return false
		}
	}
	return true
}

type getParameterHistoryInput struct {
	Name           string
	WithDecryption bool
	MaxResults     *int32
	NextToken      *string
}

type historyEntry struct {
	Name             string
	Type             string
	KeyId            string `json:",omitempty"`
	LastModifiedDate epoch
	LastModifiedUser string
	Description      string `json:",omitempty"`
	Value            string
	AllowedPattern   string `json:",omitempty"`
	Version          int64
	Labels           []string
	Tier             string
	Policies         []struct{}
	DataType         string
}

type getParameterHistoryOutput struct {
	Parameters []historyEntry
	NextToken  *string `json:",omitempty"`
}

func (s *Server) getParameterHistory(body []byte) (any, *apiError) {
	var in getParameterHistoryInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkMax(in.MaxResults, 50); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	par := s.params[in.Name]
	if par == nil {
		return nil, paramNotFound(in.Name)
	}
	if par.denied {
		return nil, denied("ssm:GetParameterHistory", paramARN(in.Name))
	}
	offset, aerr := readToken("GetParameterHistory", "InvalidNextToken", in.NextToken)
	if aerr != nil {
		return nil, aerr
	}
	lo, hi, next := s.page(len(par.versions), offset, in.MaxResults)
	out := getParameterHistoryOutput{Parameters: []historyEntry{}}
	for _, p := range par.versions[lo:hi] {
		out.Parameters = append(out.Parameters, historyEntry{
			Name: p.Name, Type: p.Type, KeyId: p.KeyID, LastModifiedDate: epoch(p.Modified),
			LastModifiedUser: "arn:aws:iam::" + Account + ":user/rekey-test", Description: p.Description,
			Value: shownValue(p, in.WithDecryption), AllowedPattern: p.AllowedPattern, Version: p.Version,
			Labels: []string{}, Tier: p.Tier, Policies: []struct{}{}, DataType: p.DataType,
		})
	}
	if next > 0 {
		out.NextToken = pageToken("GetParameterHistory", next)
	}
	return out, nil
}
