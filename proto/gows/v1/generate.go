// Package gowsv1 holds the generated Go code of the gows node service (node.proto):
// messages and the gRPC client and server stubs. Never edit the *.pb.go files by hand;
// regenerate them with
//
//	go generate ./proto/...
//
// which needs protoc (Debian's protobuf-compiler) and the two plugins at the versions
// pinned below, installed from the Go module proxy:
//
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//	go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
//
// scripts/it/proto.sh regenerates into a temporary directory and fails when the
// committed code differs.
package gowsv1

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative node.proto
