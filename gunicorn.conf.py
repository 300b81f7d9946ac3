"""gunicorn settings read from the working directory (/app in the image): the access log line.

The default format logs the request line with its query string and the Referer, and both carry MRNs and
names (/api/v1/patients/?mrn=..., /studies/?patient_mrn=...). This format keeps method, path (ids only),
status, size, time and user agent (#17 finding 9). Whether the access log is on stays with the command
line (`--access-logfile -` in docker-compose.yml and the Dockerfile).
"""

access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
