"""DICOMweb endpoints of the pacs app (STOW-RS)."""
