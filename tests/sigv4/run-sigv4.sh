#!/bin/sh
# Runs the SigV4 suite runner on AWS's published vectors and our S3 cases.
exec "${builddir:-.}/tests/sigv4/sigv4_suite" "${srcdir:-.}/tests/sigv4/suite" \
	"${srcdir:-.}/tests/sigv4/s3-cases"
