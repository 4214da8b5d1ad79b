package inventory

import (
	"testing"
	"time"

	"github.com/mediabackups/mediabackups/mediawiki"
	"github.com/mediabackups/mediabackups/metadata"
)

func TestFromVersionAndFromDeleted(t *testing.T) {
	c := mediawiki.Containers{Project: "wikipedia", Lang: "commons"}
	up := time.Date(2025, 1, 1, 10, 0, 0, 0, time.UTC)
	arch := time.Date(2025, 1, 2, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		got  metadata.File
		want metadata.File
	}{
		{
			name: "current version",
			got: FromVersion(mediawiki.FileVersion{Title: "Simple.png", Timestamp: up, SHA1: "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457",
				Size: 94, MIME: "image/png", MediaType: "BITMAP", URL: "http://w/images/2/2e/Simple.png"}, c),
			want: metadata.File{Title: "Simple.png", Container: "wikipedia-commons-local-public", Path: "2/2e/Simple.png",
				SHA1: "ebd86f06d1c6b7dfe02a6e4a5dfc11dfcdf9d457", Size: 94, MIME: "image/png", MediaType: "BITMAP",
				SourceURL: "http://w/images/2/2e/Simple.png", UploadDate: up, Status: metadata.Public},
		},
		{
			name: "archived version keeps the ! of the title",
			got: FromVersion(mediawiki.FileVersion{Title: "Wow!Amazing.png", Timestamp: up, SHA1: "2124fdb9b84a6667f0cb76400eed2615213af9b0",
				ArchiveName: "20250102090000!Wow!Amazing.png", ArchiveTime: arch, URL: "u"}, c),
			want: metadata.File{Title: "Wow!Amazing.png", Container: "wikipedia-commons-local-public",
				Path: "archive/9/9b/20250102090000!Wow!Amazing.png", SHA1: "2124fdb9b84a6667f0cb76400eed2615213af9b0",
				SourceURL: "u", UploadDate: up, Status: metadata.Archived, ArchiveName: "20250102090000!Wow!Amazing.png", ArchiveDate: arch},
		},
		{
			name: "deleted old version: deleted zone, archive date from its archive name",
			got: FromDeleted(mediawiki.DeletedVersion{ID: 8, Title: "Old_version_deleted.png", Timestamp: up,
				SHA1: "ca7091b6603091461d63b6ce842dd1f375089ff4", Size: 95, ArchiveName: "20250102090000!Old_version_deleted.png",
				StorageKey: "nmz0szsn1lk6e0gr4rv8qdcq3s9hz7k.png"}, c),
			want: metadata.File{Title: "Old_version_deleted.png", Container: "wikipedia-commons-local-deleted",
				Path: "n/m/z/nmz0szsn1lk6e0gr4rv8qdcq3s9hz7k.png", SHA1: "ca7091b6603091461d63b6ce842dd1f375089ff4", Size: 95,
				UploadDate: up, Status: metadata.Deleted, StorageKey: "nmz0szsn1lk6e0gr4rv8qdcq3s9hz7k.png", FilearchiveID: 8,
				ArchiveName: "20250102090000!Old_version_deleted.png", ArchiveDate: arch},
		},
		{
			name: "deleted current version has no archive date",
			got: FromDeleted(mediawiki.DeletedVersion{ID: 6, Title: "Reused_name.png", Timestamp: up, SHA1: "256cb15e81d26cb2871826532ec32c22f9514a65",
				StorageKey: "4ddlrpulamwhbez2yhuodq108dhoyn9.png"}, c),
			want: metadata.File{Title: "Reused_name.png", Container: "wikipedia-commons-local-deleted",
				Path: "4/d/d/4ddlrpulamwhbez2yhuodq108dhoyn9.png", SHA1: "256cb15e81d26cb2871826532ec32c22f9514a65",
				UploadDate: up, Status: metadata.Deleted, StorageKey: "4ddlrpulamwhbez2yhuodq108dhoyn9.png", FilearchiveID: 6},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("\n got %+v\nwant %+v", tt.got, tt.want)
			}
		})
	}
}
