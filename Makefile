# The two commands of the README. The logic lives in scripts/ so CI (.ci/run) runs the same.
.PHONY: run test

run:
	bash scripts/bootstrap.sh
	"$${UV_PROJECT_ENVIRONMENT:-.venv}/bin/tradeguard" validate

test:
	bash scripts/test.sh
