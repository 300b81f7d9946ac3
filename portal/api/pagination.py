"""DRF's page envelope {count, next, previous, results}: 25 a page, ?page_size= up to 200."""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 200
