"""Pages of the pacs app (admins: DICOM nodes and ignored instances)."""
