package awsfake

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The version stages AWS maintains itself.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
)

// secret is one Secrets Manager secret and its versions.
type secret struct {
	name, arn string
	versions  map[string]*secretVersion
	stages    map[string]string // stage → version id
	created   time.Time
	changed   time.Time
	denied    bool
}

type secretVersion struct {
	id      string
	str     *string
	bin     []byte
	created time.Time
}

func (v *secretVersion) value() []byte {
	if v.str != nil {
		return []byte(*v.str)
	}
	return bytes.Clone(v.bin)
}

// stagesOf lists the stages attached to version id, sorted.
func (sec *secret) stagesOf(id string) []string {
	var out []string
	for stage, v := range sec.stages {
		if v == id {
			out = append(out, stage)
		}
	}
	slices.Sort(out)
	return out
}

// attach moves stage to version id; moving AWSCURRENT gives AWSPREVIOUS to
// the version that held it, as Secrets Manager does.
func (sec *secret) attach(stage, id string) {
	from, had := sec.stages[stage]
	sec.stages[stage] = id
	if stage == StageCurrent && had && from != id {
		sec.stages[StagePrevious] = from
	}
	sec.changed = time.Now()
}

// PutSecretString stores value as a new AWSCURRENT version of the secret
// name, creating the secret if needed, and returns the version id.
func (s *Server) PutSecretString(name, value string) string {
	return s.seedSecret(name, &secretVersion{str: &value})
}

// PutSecretBinary stores value as a new AWSCURRENT SecretBinary version.
func (s *Server) PutSecretBinary(name string, value []byte) string {
	return s.seedSecret(name, &secretVersion{bin: bytes.Clone(value)})
}

func (s *Server) seedSecret(name string, v *secretVersion) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil {
		sec = s.createSecret(name)
	}
	v.id, v.created = newID(), time.Now()
	sec.versions[v.id] = v
	sec.attach(StageCurrent, v.id)
	return v.id
}

func (s *Server) createSecret(name string) *secret {
	sec := &secret{
		name:     name,
		arn:      "arn:aws:secretsmanager:us-east-1:" + Account + ":secret:" + name + "-" + newID()[:6],
		versions: map[string]*secretVersion{},
		stages:   map[string]string{},
		created:  time.Now(),
	}
	s.secrets[name] = sec
	s.secretOrder = append(s.secretOrder, name)
	return sec
}

// DenySecret makes every read or write of the secret answer
// AccessDeniedException (in BatchGetSecretValue, an entry in Errors). It is
// still listed, as ListSecrets is allowed account-wide.
func (s *Server) DenySecret(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.secrets[name]; sec != nil {
		sec.denied = true
	}
}

// DenyBatch makes BatchGetSecretValue answer AccessDeniedException as a
// whole, as for a caller without secretsmanager:BatchGetSecretValue.
func (s *Server) DenyBatch(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denyBatch = on
}

// SecretValue returns the value of the secret's version holding stage, and
// that version's id.
func (s *Server) SecretValue(name, stage string) (value []byte, versionID string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil {
		return nil, "", false
	}
	id, ok := sec.stages[stage]
	if !ok {
		return nil, "", false
	}
	return sec.versions[id].value(), id, true
}

// SecretIsBinary reports whether the secret's AWSCURRENT version is a
// SecretBinary.
func (s *Server) SecretIsBinary(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[name]
	if sec == nil {
		return false
	}
	v := sec.versions[sec.stages[StageCurrent]]
	return v != nil && v.str == nil
}

// SecretVersions counts the secret's versions.
func (s *Server) SecretVersions(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.secrets[name]; sec != nil {
		return len(sec.versions)
	}
	return 0
}

// lookupSecret finds a secret by name or ARN.
func (s *Server) lookupSecret(id string) *secret {
	if sec := s.secrets[id]; sec != nil {
		return sec
	}
	if strings.HasPrefix(id, "arn:") {
		for _, sec := range s.secrets {
			if sec.arn == id {
				return sec
			}
		}
	}
	return nil
}

func secretNotFound() *apiError {
	return errorf(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
}

func invalidParameter(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "InvalidParameterException", format, args...)
}

// The wire shapes, with AWS's member names.

type smFilter struct {
	Key    string
	Values []string
}

type listSecretsInput struct {
	Filters                []smFilter
	MaxResults             *int32
	NextToken              *string
	IncludePlannedDeletion *bool
	SortBy, SortOrder      string
}

type secretListEntry struct {
	ARN                    string
	Name                   string
	CreatedDate            epoch
	LastChangedDate        epoch
	SecretVersionsToStages map[string][]string
}

type listSecretsOutput struct {
	SecretList []secretListEntry
	NextToken  *string `json:",omitempty"`
}

type secretValueEntry struct {
	ARN           string
	Name          string
	VersionId     string
	SecretString  *string `json:",omitempty"`
	SecretBinary  []byte  `json:",omitempty"`
	VersionStages []string
	CreatedDate   epoch
}

func (s *Server) listSecrets(body []byte) (any, *apiError) {
	var in listSecretsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.MaxResults != nil && (*in.MaxResults < 1 || *in.MaxResults > 100) {
		return nil, validation("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 100", *in.MaxResults)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	offset, aerr := readToken("ListSecrets", "InvalidNextTokenException", in.NextToken)
	if aerr != nil {
		return nil, aerr
	}
	var match []*secret
	for _, name := range s.secretOrder {
		sec := s.secrets[name]
		ok, aerr := matchSecret(sec, in.Filters)
		if aerr != nil {
			return nil, aerr
		}
		if ok {
			match = append(match, sec)
		}
	}
	lo, hi, next := s.page(len(match), offset, in.MaxResults)
	out := listSecretsOutput{SecretList: []secretListEntry{}}
	for _, sec := range match[lo:hi] {
		stages := map[string][]string{}
		for id := range sec.versions {
			if st := sec.stagesOf(id); len(st) > 0 {
				stages[id] = st
			}
		}
		out.SecretList = append(out.SecretList, secretListEntry{
			ARN: sec.arn, Name: sec.name, CreatedDate: epoch(sec.created),
			LastChangedDate: epoch(sec.changed), SecretVersionsToStages: stages,
		})
	}
	if next > 0 {
		out.NextToken = pageToken("ListSecrets", next)
	}
	return out, nil
}

// matchSecret applies ListSecrets filters: every filter must match, any of
// its values; "name" is a case-sensitive prefix, "!" negates.
func matchSecret(sec *secret, filters []smFilter) (bool, *apiError) {
	for _, f := range filters {
		if f.Key != "name" {
			return false, invalidParameter("the fake models only the name filter, not %q", f.Key)
		}
		hit := false
		for _, v := range f.Values {
			if neg, ok := strings.CutPrefix(v, "!"); ok {
				hit = hit || !strings.HasPrefix(sec.name, neg)
			} else {
				hit = hit || strings.HasPrefix(sec.name, v)
			}
		}
		if !hit {
			return false, nil
		}
	}
	return true, nil
}

type batchGetSecretValueInput struct {
	SecretIdList []string
	Filters      []smFilter
	MaxResults   *int32
	NextToken    *string
}

type batchError struct {
	SecretId  string
	ErrorCode string
	Message   string
}

type batchGetSecretValueOutput struct {
	SecretValues []secretValueEntry
	Errors       []batchError
	NextToken    *string `json:",omitempty"`
}

func (s *Server) batchGetSecretValue(body []byte) (any, *apiError) {
	var in batchGetSecretValueInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.denyBatch {
		return nil, denied("secretsmanager:BatchGetSecretValue", "*")
	}
	switch {
	case len(in.Filters) > 0 && len(in.SecretIdList) > 0:
		return nil, invalidParameter("You must include Filters or SecretIdList, but not both.")
	case len(in.Filters) > 0:
		return nil, errorf(http.StatusBadRequest, "InvalidRequestException", "the fake models BatchGetSecretValue by SecretIdList only")
	case len(in.SecretIdList) == 0 || len(in.SecretIdList) > 20:
		return nil, validation("1 validation error detected: Value at 'secretIdList' failed to satisfy constraint: Member must have length between 1 and 20")
	}
	out := batchGetSecretValueOutput{SecretValues: []secretValueEntry{}, Errors: []batchError{}}
	for _, id := range in.SecretIdList {
		v, aerr := s.readSecret(id, "", StageCurrent)
		if aerr != nil {
			out.Errors = append(out.Errors, batchError{SecretId: id, ErrorCode: aerr.code, Message: aerr.message})
			continue
		}
		out.SecretValues = append(out.SecretValues, v)
	}
	return out, nil
}

type getSecretValueInput struct {
	SecretId     string
	VersionId    string
	VersionStage string
}

func (s *Server) getSecretValue(body []byte) (any, *apiError) {
	var in getSecretValueInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, aerr := s.readSecret(in.SecretId, in.VersionId, in.VersionStage)
	if aerr != nil {
		return nil, aerr
	}
	return v, nil
}

// readSecret finds one version of a secret by id and/or stage (AWSCURRENT
// when neither is given).
func (s *Server) readSecret(secretID, versionID, stage string) (secretValueEntry, *apiError) {
	sec := s.lookupSecret(secretID)
	if sec == nil {
		return secretValueEntry{}, secretNotFound()
	}
	if sec.denied {
		return secretValueEntry{}, denied("secretsmanager:GetSecretValue", sec.arn)
	}
	if versionID == "" && stage == "" {
		stage = StageCurrent
	}
	if versionID == "" {
		id, ok := sec.stages[stage]
		if !ok {
			return secretValueEntry{}, errorf(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: %s", stage)
		}
		versionID = id
	}
	v := sec.versions[versionID]
	if v == nil {
		return secretValueEntry{}, errorf(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s", versionID)
	}
	if stage != "" && sec.stages[stage] != versionID {
		return secretValueEntry{}, invalidParameter("You provided a VersionStage that is not associated to the provided VersionId.")
	}
	return secretValueEntry{
		ARN: sec.arn, Name: sec.name, VersionId: v.id, SecretString: v.str, SecretBinary: v.bin,
		VersionStages: sec.stagesOf(v.id), CreatedDate: epoch(v.created),
	}, nil
}

type putSecretValueInput struct {
	SecretId           string
	ClientRequestToken string
	SecretString       *string
	SecretBinary       []byte
	VersionStages      []string
}

type putSecretValueOutput struct {
	ARN           string
	Name          string
	VersionId     string
	VersionStages []string
}

func (s *Server) putSecretValue(body []byte) (any, *apiError) {
	var in putSecretValueInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if (in.SecretString == nil) == (in.SecretBinary == nil) {
		return nil, invalidParameter("You must provide either SecretString or SecretBinary, but not both.")
	}
	if in.SecretString != nil && !utf8.ValidString(*in.SecretString) {
		return nil, invalidParameter("SecretString is not valid UTF-8.")
	}
	token := in.ClientRequestToken
	if token == "" {
		token = newID()
	}
	if n := len(token); n < 32 || n > 64 {
		return nil, validation("1 validation error detected: Value at 'clientRequestToken' failed to satisfy constraint: Member must have length between 32 and 64")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.lookupSecret(in.SecretId)
	if sec == nil {
		return nil, secretNotFound()
	}
	if sec.denied {
		return nil, denied("secretsmanager:PutSecretValue", sec.arn)
	}
	if v, ok := sec.versions[token]; ok {
		// The same request again (a retry): nothing changes, unless the
		// value differs, which AWS refuses.
		if !bytes.Equal(v.value(), secretBytes(in.SecretString, in.SecretBinary)) || (v.str == nil) != (in.SecretString == nil) {
			return nil, errorf(http.StatusBadRequest, "ResourceExistsException", "You can't modify an existing version, you can only create a new version.")
		}
		return putSecretValueOutput{ARN: sec.arn, Name: sec.name, VersionId: v.id, VersionStages: sec.stagesOf(v.id)}, nil
	}
	v := &secretVersion{id: token, str: in.SecretString, bin: in.SecretBinary, created: time.Now()}
	sec.versions[token] = v
	stages := in.VersionStages
	if len(stages) == 0 {
		stages = []string{StageCurrent}
	}
	for _, stage := range stages {
		sec.attach(stage, token)
	}
	return putSecretValueOutput{ARN: sec.arn, Name: sec.name, VersionId: token, VersionStages: sec.stagesOf(token)}, nil
}

func secretBytes(str *string, bin []byte) []byte {
	if str != nil {
		return []byte(*str)
	}
	return bin
}

type updateSecretVersionStageInput struct {
	SecretId            string
	VersionStage        string
	MoveToVersionId     string
	RemoveFromVersionId string
}

type updateSecretVersionStageOutput struct {
	ARN  string
	Name string
}

func (s *Server) updateSecretVersionStage(body []byte) (any, *apiError) {
	var in updateSecretVersionStageInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.VersionStage == "" {
		return nil, validation("1 validation error detected: Value null at 'versionStage' failed to satisfy constraint: Member must not be null")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.lookupSecret(in.SecretId)
	if sec == nil {
		return nil, secretNotFound()
	}
	if sec.denied {
		return nil, denied("secretsmanager:UpdateSecretVersionStage", sec.arn)
	}
	holder, attached := sec.stages[in.VersionStage]
	if in.MoveToVersionId == "" {
		if in.VersionStage == StageCurrent {
			return nil, invalidParameter("You can't remove the staging label AWSCURRENT from a version without moving it to another version.")
		}
		if !attached || holder != in.RemoveFromVersionId {
			return nil, invalidParameter("The staging label %s is not attached to version %s.", in.VersionStage, in.RemoveFromVersionId)
		}
		delete(sec.stages, in.VersionStage)
		sec.changed = time.Now()
		return updateSecretVersionStageOutput{ARN: sec.arn, Name: sec.name}, nil
	}
	if sec.versions[in.MoveToVersionId] == nil {
		return nil, errorf(http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: %s", in.MoveToVersionId)
	}
	if attached && holder != in.MoveToVersionId && holder != in.RemoveFromVersionId {
		return nil, invalidParameter("The parameter RemoveFromVersionId must be specified with the version %s that the staging label %s is currently attached to.", holder, in.VersionStage)
	}
	sec.attach(in.VersionStage, in.MoveToVersionId)
	return updateSecretVersionStageOutput{ARN: sec.arn, Name: sec.name}, nil
}
