.PHONY: install test stack bench
install:
	pip install -r requirements-dev.txt
test:
	python -m pytest
stack:
	python -m workers.stack
bench:
	python -m bench.speed
