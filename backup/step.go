package backup

// Step is the stage of a file's backup that failed. The set is small and
// fixed, so that monitoring can count failures by step (a label value)
// without the free text of the error.
type Step string

// The steps of one file's backup, in order.
const (
	// StepDownload: getting the bytes from production (HTTP error,
	// network, permission, timeout after the retries).
	StepDownload Step = "download"
	// StepMetadata: a metadata query made for the file (the check for an
	// object with the same content, the server's location row).
	StepMetadata Step = "metadata"
	// StepEncrypt: age encryption of the bytes.
	StepEncrypt Step = "encrypt"
	// StepUpload: storing the object on the server its sha256 belongs to.
	StepUpload Step = "upload"
)

// StepError is the failure of one file's backup at Step. Every failure
// that Progress.FileDone reports carries one (find it with errors.As). Its
// message is Err's alone, so the reason recorded on the file is unchanged.
type StepError struct {
	Step Step
	Err  error
}

func (e *StepError) Error() string { return e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }
