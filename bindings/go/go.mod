module github.com/customs-dev/customs/bindings/go

go 1.22
